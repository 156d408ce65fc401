from django import forms

from annotation.models import Constitution, CritiqueRun, Dataset


class CritiqueRunForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"),
                                     help_text="Every response of its prompts is critiqued and revised (up to the limit).")
    model_path = forms.CharField(max_length=1024, label="Model folder",
                                 help_text="A local Hugging Face causal LM folder; it writes both the critique and the revision.")
    constitution = forms.ModelChoiceField(
        queryset=Constitution.objects.order_by("name", "-version"), required=False,
        help_text="A principle is drawn at random from it for each response. Blank: the built-in principles.")
    limit = forms.IntegerField(min_value=1, required=False, help_text="At most this many responses; blank: all of them.")
    output = forms.ChoiceField(choices=CritiqueRun.Output.choices, initial=CritiqueRun.Output.PAIR,
                               help_text="A pair puts original and revision before labellers (sides at random), so "
                                         "they can check whether the revision really is better.")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=2048, initial=64,
                                        help_text="Length limit of each critique and each revision, in tokens.")
