from django import forms

from annotation.dataio.formats import FORMATS

FORMAT_CHOICES = [("auto", "Detect from the first line"), ("hh", "hh: Anthropic HH-RLHF transcripts"),
                  ("trl", "trl: prompt / chosen / rejected"), ("tasks", "tasks: prompt + responses to annotate"),
                  ("judgements", "judgements: one judgement a line"),
                  ("unpaired", "unpaired: prompt / completion / label ratings (thumbs up or down)")]
assert [c for c, _ in FORMAT_CHOICES[1:]] == [*FORMATS, "unpaired"]


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSON Lines, plain or gzip (.jsonl, .jsonl.gz), or a judgements or "
                                                   "ratings CSV export.")
    dataset = forms.CharField(max_length=200, label="Dataset name", help_text="An existing dataset, or a new name.",
                              widget=forms.TextInput(attrs={"list": "dataset-names", "autocomplete": "off"}))
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="auto")
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid lines (import the rest, list the bad ones)")


class TaskSetImportForm(forms.Form):
    file = forms.FileField(help_text="JSON Lines of tasks, plain or gzip (.jsonl, .jsonl.gz).")
    name = forms.CharField(max_length=200, label="Task set name", help_text="A new name.")
    description = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)
