from datetime import datetime, time, timedelta, timezone as dt_timezone

from django import forms

from annotation.models import RATIONALE_MAX_CHARS, Choice, ReviewDecision
from annotation.review.search import SearchFilters
from annotation.review.selectors import KINDS, SHOW
from annotation.review.services import SEND_BACK_MAX


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=ReviewDecision.Action.choices, help_text=(
        "Accept: the labellers' majority stands. Override: record your own choice (a reason is required); "
        "training can use it instead of the majority. Send back: the queue leases the pair to more labellers."))
    choice = forms.ChoiceField(choices=[("", "—")] + list(Choice.choices), required=False,
                               help_text="Only for an override: the answer you decide on.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=RATIONALE_MAX_CHARS,
                             help_text="Why: required for an override, kept with the decision for every action.")
    extra_judgements = forms.IntegerField(min_value=1, max_value=SEND_BACK_MAX, initial=2, required=False,
                                          label="More judgements",
                                          help_text=f"Only for send back: how many more (1 to {SEND_BACK_MAX}).")

    def decision(self) -> dict:
        d = self.cleaned_data
        send_back = d["action"] == ReviewDecision.Action.SEND_BACK
        return {"action": d["action"], "choice": d["choice"] if d["action"] == ReviewDecision.Action.OVERRIDE else "",
                "reason": d["reason"], "extra_judgements": (d["extra_judgements"] or 2) if send_back else 0}


class QueueFilterForm(forms.Form):
    show = forms.ChoiceField(choices=[(s, s.title()) for s in SHOW], required=False, initial="open",
                             help_text="Open: no decision newer than the pair's judgements.")
    kind = forms.ChoiceField(choices=[("", "Any reason")] + list(KINDS.items()), required=False, label="Listed for")


class ReviewerForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="A labeller of this dataset to give the reviewer role.")


class SearchForm(forms.Form):
    what = forms.ChoiceField(choices=[("judgements", "Judgements"), ("pairs", "Pairs")], required=False,
                             initial="judgements")
    dataset = forms.IntegerField(required=False, min_value=1, widget=forms.Select,
                                 help_text="Blank: every dataset you review.")
    labeller = forms.CharField(max_length=150, required=False, help_text="Username.")
    choice = forms.ChoiceField(choices=[("", "Any")] + list(Choice.choices), required=False)
    since = forms.DateField(required=False, help_text="From this day (UTC), e.g. 2026-01-05.",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, help_text="Up to and including this day (UTC).",
                            widget=forms.DateInput(attrs={"type": "date"}))
    flagged = forms.ChoiceField(choices=[("", "Either"), ("yes", "Flagged"), ("no", "Not flagged")], required=False,
                                help_text="A labeller ticked a problem with a response.")
    q = forms.CharField(max_length=200, required=False, label="Text",
                        help_text="In the prompt, either response or the rationale.")

    def clean(self):
        d = super().clean()
        if d.get("since") and d.get("until") and d["since"] > d["until"]:
            raise forms.ValidationError("The start day must not be after the end day.")
        return d

    def filters(self, *, dataset_ids: list[int]) -> SearchFilters:
        """The search filters of the cleaned form, within `dataset_ids` (those the user reviews)."""
        d = self.cleaned_data
        day = timedelta(days=1)
        return SearchFilters(
            dataset_ids=[i for i in dataset_ids if i == d["dataset"]] if d.get("dataset") else dataset_ids,
            labeller=d.get("labeller") or "", choice=d.get("choice") or "",
            since=datetime.combine(d["since"], time.min, tzinfo=dt_timezone.utc) if d.get("since") else None,
            until=datetime.combine(d["until"], time.min, tzinfo=dt_timezone.utc) + day if d.get("until") else None,
            flagged={"yes": True, "no": False}.get(d.get("flagged") or ""), q=(d.get("q") or "").strip(),
        )
