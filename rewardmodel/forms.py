from django import forms

from annotation.models import Dataset
from rewardmodel.backbone import default_backbone_path


class RunCreateForm(forms.Form):
    """The settings an admin usually changes; everything else keeps the trainer's defaults."""

    name = forms.CharField(max_length=200, required=False)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    base_model_path = forms.CharField(
        max_length=1024, help_text="A local Hugging Face model folder (encoder or decoder)."
    )
    num_train_epochs = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Epochs")
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=5e-5)
    batch_size = forms.IntegerField(min_value=1, max_value=1024, initial=16, help_text="Pairs per step.")
    max_length = forms.IntegerField(min_value=8, max_value=8192, initial=256, help_text="Tokens; longer pairs keep their end.")
    aggregation = forms.ChoiceField(
        choices=[("majority", "Majority per pair (ties and split votes left out)"),
                 ("per_judgement", "Every judgement (soft labels, weighted by votes)")],
        initial="majority",
    )
    judgement_source = forms.ChoiceField(
        choices=[("human", "People only (AI labellers' judgements left out)"),
                 ("model", "AI labellers only"),
                 ("both", "People and AI labellers, an AI judgement weighted as below")],
        initial="human", required=False, label="Whose judgements count",
        help_text="Compare runs that differ here on the compare page: it shows each run's accuracy on held-out "
                  "pairs that people decided.",
    )
    ai_weight = forms.FloatField(
        min_value=0.01, max_value=10, initial=0.5, required=False, label="Weight of an AI judgement",
        help_text="With both: one AI judgement counts this many human judgements (1 = the same). Ignored otherwise.",
    )
    min_agreement = forms.FloatField(min_value=0, max_value=1, initial=0.0, help_text="0 keeps every pair.")
    eval_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0.1, help_text="Share of prompts held out.")
    use_review_decisions = forms.BooleanField(
        required=False, label="Use reviewed decisions",
        help_text="Where a reviewer overrode a pair, train on the reviewer's choice instead of the labellers' majority.")
    loss_type = forms.ChoiceField(
        choices=[("bradley_terry", "Bradley-Terry"), ("davidson", "Davidson (tie-aware: keeps ties and both-bad)")],
        initial="bradley_terry",
    )
    use_margin = forms.BooleanField(required=False, help_text="Llama 2 margin from the votes' strength.")
    center_rewards_coefficient = forms.FloatField(required=False, min_value=0, help_text="e.g. 0.01; blank = off.")
    length_control = forms.BooleanField(required=False, help_text="Learn a length covariate so the reward does not pay for length.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model_path"].initial = default_backbone_path()

    def config(self) -> dict:
        d = self.cleaned_data
        train = {k: d[k] for k in ("num_train_epochs", "learning_rate", "batch_size", "max_length", "loss_type", "use_margin", "length_control")}
        if d.get("center_rewards_coefficient"):
            train["center_rewards_coefficient"] = d["center_rewards_coefficient"]
        selection = {k: d[k] for k in ("aggregation", "min_agreement", "eval_fraction")}
        if d.get("use_review_decisions"):
            selection["use_review_decisions"] = True
        selection["judgement_source"] = d.get("judgement_source") or "human"
        if selection["judgement_source"] == "both" and d.get("ai_weight"):
            selection["ai_weight"] = d["ai_weight"]
        return {"train": train, "selection": selection}


class AutoRetrainForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    every_n_judgements = forms.IntegerField(min_value=1, initial=500, label="Retrain every N new counted judgements")
    enabled = forms.BooleanField(required=False, initial=True)
