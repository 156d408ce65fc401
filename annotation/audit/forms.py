from django import forms


class ExclusionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Why these judgements are left out.")
    start = forms.DateTimeField(required=False, help_text="Optional: from this time (UTC), e.g. 2026-01-05 09:00.")
    end = forms.DateTimeField(required=False, help_text="Optional: until this time (UTC).")
    all_datasets = forms.BooleanField(required=False, label="Exclude from every dataset, not only this one")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise forms.ValidationError("The start of the range must be before its end.")
        return data


class RevokeForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)
