from django import forms

from annotation.ai.prompting import DEFAULT_TEMPLATE
from annotation.models import AILabeller, Constitution, Dataset
from common.models import JobStatus
from rewardmodel.models import RewardModelRun


class ConstitutionForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Saving under an existing name makes its next version.")
    principles = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}),
                                 help_text="One principle per line; each judgement draws one at random and records it.")

    def principle_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["principles"].splitlines() if line.strip()]


class AILabellerForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Its name in the audit and the data; it cannot log in.")
    backend = forms.ChoiceField(choices=AILabeller.Backend.choices, help_text=(
        "Causal LM: a local model folder, verdict from the probabilities of the answer letters. Reward model: a "
        "trained run scores both responses. Endpoint: any OpenAI-compatible server (vLLM, TGI, Ollama, hosted)."))
    model_path = forms.CharField(max_length=1024, required=False, help_text="Causal LM: the local folder, as the worker sees it.")
    reward_run = forms.ModelChoiceField(queryset=RewardModelRun.objects.filter(status=JobStatus.SUCCEEDED).order_by("-pk"),
                                        required=False, help_text="Reward model: a succeeded run.")
    endpoint_url = forms.URLField(max_length=1024, required=False, assume_scheme="http", help_text="Endpoint: the base URL, ending in /v1.")
    endpoint_model = forms.CharField(max_length=200, required=False, help_text="Endpoint: the model name to ask for.")
    api_key_env = forms.CharField(max_length=100, required=False, label="Key environment variable", help_text=(
        "Endpoint: the name of the worker's environment variable that holds the key (e.g. OPENAI_API_KEY). The key "
        "itself is never entered or shown here; leave blank for servers without one."))
    constitution = forms.ModelChoiceField(queryset=Constitution.objects.all(), required=False,
                                          help_text="Blank: one built-in principle (helpful, honest, harmless).")
    both_orders = forms.BooleanField(required=False, initial=True, help_text=(
        "Judge each pair with the responses in both orders; a choice counts only when both agree (else a tie). "
        "Cancels the judge's position bias at twice the cost."))
    tie_margin = forms.FloatField(min_value=0, max_value=1, initial=0.1,
                                  help_text="A tie when |p(A) - p(B)| is below this (probability backends).")
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0, help_text="Endpoint: sampling temperature.")
    requests_per_minute = forms.FloatField(min_value=0.1, initial=60, help_text="Endpoint: the rate limit.")
    prompt_template = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, help_text=(
        "Blank: the built-in one. Fields: {principle} {conversation} {response_a} {response_b}; end where the "
        "answer letter starts."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt_template"].widget.attrs["placeholder"] = DEFAULT_TEMPLATE

    def judge_settings(self) -> dict:
        d = self.cleaned_data
        settings = {"both_orders": d["both_orders"], "tie_margin": d["tie_margin"]}
        if d["backend"] == AILabeller.Backend.OPENAI:
            settings.update(temperature=d["temperature"], requests_per_minute=d["requests_per_minute"])
        return settings


class RunForm(forms.Form):
    ai_labeller = forms.ModelChoiceField(queryset=AILabeller.objects.select_related("labeller__user"), label="AI labeller")
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    limit = forms.IntegerField(min_value=1, required=False, help_text="Judge at most this many pairs; blank: all.")
    below_human_k = forms.IntegerField(min_value=1, max_value=100, required=False, label="Fewer than k human judgements",
                                       help_text="Only pairs that people have judged fewer than k times; blank: every pair.")
    seed = forms.IntegerField(required=False, initial=0, help_text="Seeds the principle drawn for each pair.")
