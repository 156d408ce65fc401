from django import forms

from annotation.models import Dataset
from training.selectors import reward_runs_succeeded, sft_runs_succeeded
from training.services import SEND_MODES


def start_at_defaults(form: forms.Form, config) -> None:
    """Sets the initial value of each of the form's CONFIG_FIELDS from the trainer's config. The
    forms import their trainer's config when they are built, not when this module loads: the
    trainers import torch, which would add about a second to loading the URLs in every process."""
    for name in form.CONFIG_FIELDS:
        if hasattr(config, name):
            form.fields[name].initial = getattr(config, name)


class SFTRunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"),
                                     help_text="Demonstrations: each pair's majority-preferred response.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder; blank: a small GPT-2 from scratch "
                                                "with a tokenizer trained on the dataset (no download).")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000)
    batch_size = forms.IntegerField(min_value=1, max_value=4096)
    learning_rate = forms.FloatField(min_value=0)
    max_length = forms.IntegerField(min_value=16, max_value=8192)
    vocab_size = forms.IntegerField(min_value=300, max_value=200_000, help_text="From scratch only.")
    n_layer = forms.IntegerField(min_value=1, max_value=48, help_text="From scratch only.")
    n_embd = forms.IntegerField(min_value=16, max_value=4096, help_text="From scratch only.")

    CONFIG_FIELDS = ("steps", "batch_size", "learning_rate", "max_length", "vocab_size", "n_layer", "n_embd")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from training.sft import SFTConfig

        start_at_defaults(self, SFTConfig())


class PolicyRunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    sft_run = forms.ModelChoiceField(queryset=sft_runs_succeeded(), label="SFT run",
                                     help_text="Starting policy and frozen reference.")
    reward_run = forms.ModelChoiceField(queryset=reward_runs_succeeded(), label="Reward-model run")
    held_out_reward_run = forms.ModelChoiceField(
        queryset=reward_runs_succeeded(), required=False, label="Held-out reward-model run",
        help_text="Optional: scored, never optimised; its fall while the proxy rises is over-optimisation.")
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), required=False,
                                     help_text="Prompts; blank: the reward model's dataset.")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000)
    batch_size = forms.IntegerField(min_value=1, max_value=4096)
    mini_batch_size = forms.IntegerField(min_value=1, max_value=4096)
    ppo_epochs = forms.IntegerField(min_value=1, max_value=100)
    learning_rate = forms.FloatField(min_value=0)
    init_kl_coef = forms.FloatField(min_value=0, label="Initial beta (KL coefficient)")
    adap_kl_ctrl = forms.BooleanField(required=False, label="Adaptive beta (Ziegler et al.)")
    target = forms.FloatField(min_value=0.001, label="Target KL")
    horizon = forms.FloatField(min_value=1)
    kl_penalty = forms.ChoiceField(choices=[], label="KL estimator")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096)
    temperature = forms.FloatField(min_value=0.01)
    top_p = forms.FloatField(min_value=0.01, max_value=1.0)
    sample_every = forms.IntegerField(min_value=1, initial=5, help_text="Keep a table of samples every K steps.")
    kl_limit = forms.FloatField(min_value=0, initial=20.0, label="KL monitor limit")

    CONFIG_FIELDS = ("steps", "batch_size", "mini_batch_size", "ppo_epochs", "learning_rate", "init_kl_coef",
                     "adap_kl_ctrl", "target", "horizon", "kl_penalty", "max_new_tokens", "temperature", "top_p",
                     "sample_every", "kl_limit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from training.kl import KL_PENALTIES
        from training.ppo import PPOConfig

        self.fields["kl_penalty"].choices = [(k, k) for k in KL_PENALTIES]
        start_at_defaults(self, PPOConfig())

    def clean(self):
        data = super().clean()
        if data.get("batch_size") and data.get("mini_batch_size") and data["batch_size"] % data["mini_batch_size"]:
            self.add_error("mini_batch_size", "The mini-batch size must divide the batch size.")
        return data


def sample_every_field() -> forms.IntegerField:
    """The "sample every K steps" option of the runs that learn without sampling (DPO, KTO)."""
    return forms.IntegerField(min_value=0, max_value=1_000_000, required=False, label="Sample every K steps",
                              help_text="Draw responses to a few held-out prompts before training, every K steps and "
                                        "at the end: shown on the run page with their implicit rewards, and watched "
                                        "by the reward-hacking monitors (length, repetition, formatting). 0: never.")


class DPORunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), help_text="Labelled pairs to learn from.")
    sft_run = forms.ModelChoiceField(queryset=sft_runs_succeeded(), required=False, label="SFT run",
                                     help_text="Starting policy and reference; or give a base model folder instead.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder (instead of an SFT run).")
    loss_type = forms.ChoiceField(choices=[("sigmoid", "DPO (sigmoid)"), ("ipo", "IPO"), ("cdpo", "Conservative DPO")],
                                  label="Loss")
    beta = forms.FloatField(min_value=0.0001)
    label_smoothing = forms.FloatField(required=False, min_value=0, max_value=0.49,
                                       help_text="Conservative DPO only; blank: each pair's share of votes against "
                                                 "its chosen side (needs per-judgement aggregation).")
    precompute_ref = forms.BooleanField(required=False, label="Precompute the reference log-probs",
                                        help_text="One pass before training; the reference is then not kept in memory.")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000)
    batch_size = forms.IntegerField(min_value=1, max_value=4096)
    learning_rate = forms.FloatField(min_value=0)
    max_length = forms.IntegerField(min_value=16, max_value=32768)
    max_response_tokens = forms.IntegerField(min_value=1, max_value=32768)
    sample_every = sample_every_field()
    aggregation = forms.ChoiceField(choices=[("majority", "Majority"), ("per_judgement", "Per judgement (soft labels)")])
    min_agreement = forms.FloatField(min_value=0, max_value=1)
    eval_fraction = forms.FloatField(min_value=0, max_value=0.9, label="Held-out share of prompts")

    CONFIG_FIELDS = ("loss_type", "beta", "label_smoothing", "precompute_ref", "steps", "batch_size", "learning_rate",
                     "max_length", "max_response_tokens", "sample_every")
    SELECTION_FIELDS = ("aggregation", "min_agreement", "eval_fraction")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from rewardmodel.selection import SelectionConfig
        from training.dpo import DPOConfig

        start_at_defaults(self, DPOConfig())
        for name in self.SELECTION_FIELDS:
            self.fields[name].initial = getattr(SelectionConfig(), name)

    def config(self) -> dict:
        """The run's config from the cleaned data: blank options left to the trainer's defaults."""
        d = self.cleaned_data
        return {**{k: d[k] for k in self.CONFIG_FIELDS if d[k] is not None},
                "selection": {k: d[k] for k in self.SELECTION_FIELDS}}


class KTORunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"),
                                     help_text="Where the feedback comes from (see Source).")
    source = forms.ChoiceField(choices=[("comparisons", "Comparisons: chosen = desirable, rejected = undesirable"),
                                        ("ratings", "Thumbs-up/down ratings of single responses")],
                               initial="comparisons",
                               help_text="KTO learns from unpaired feedback: each response marked good or bad on its "
                                         "own. Comparisons give two such examples per pair (unpaired and shuffled); "
                                         "ratings give one each. Held-out accuracy needs comparisons.")
    sft_run = forms.ModelChoiceField(queryset=sft_runs_succeeded(), required=False, label="SFT run",
                                     help_text="Starting policy and reference; or give a base model folder instead.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder (instead of an SFT run).")
    beta = forms.FloatField(min_value=0.0001,
                            help_text="How far the policy may move from the reference: smaller lets it move further.")
    desirable_weight = forms.FloatField(required=False, min_value=0.0001, label="Desirable weight",
                                        help_text="Loss weight of good responses. Blank: chosen from the data so that "
                                                  "weight x count of good over weight x count of bad lies between 1 "
                                                  "and 4/3, as the KTO paper advises.")
    undesirable_weight = forms.FloatField(required=False, min_value=0.0001, label="Undesirable weight",
                                          help_text="Loss weight of bad responses. Blank: 1, or what balancing needs.")
    precompute_ref = forms.BooleanField(required=False, label="Precompute the reference log-probs",
                                        help_text="One pass before training; the reference is then not kept in memory.")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000)
    batch_size = forms.IntegerField(min_value=2, max_value=4096, help_text="Responses per step (at least 2: KTO's "
                                    "reference point is estimated on the batch).")
    learning_rate = forms.FloatField(min_value=0)
    lr_schedule = forms.ChoiceField(choices=[("constant", "Constant"), ("linear", "Linear decay to 0")],
                                    label="Learning-rate schedule", help_text="After the warm-up steps.")
    max_length = forms.IntegerField(min_value=16, max_value=32768, help_text="Tokens of prompt + response; the "
                                    "prompt is cut from the left.")
    max_response_tokens = forms.IntegerField(min_value=1, max_value=32768)
    sample_every = sample_every_field()
    aggregation = forms.ChoiceField(choices=[("majority", "Majority"), ("per_judgement", "Per judgement")],
                                    help_text="Comparisons only: which pairs count.")
    min_agreement = forms.FloatField(min_value=0, max_value=1, help_text="Comparisons only.")
    eval_fraction = forms.FloatField(min_value=0, max_value=0.9, label="Held-out share of prompts",
                                     help_text="Comparisons only: held-out pairs measure implicit-reward accuracy.")

    CONFIG_FIELDS = ("beta", "desirable_weight", "undesirable_weight", "precompute_ref", "steps", "batch_size",
                     "learning_rate", "lr_schedule", "max_length", "max_response_tokens", "sample_every")
    SELECTION_FIELDS = ("aggregation", "min_agreement", "eval_fraction")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from rewardmodel.selection import SelectionConfig
        from training.kto import KTOConfig

        start_at_defaults(self, KTOConfig())
        for name in self.SELECTION_FIELDS:
            self.fields[name].initial = getattr(SelectionConfig(), name)

    def config(self) -> dict:
        """The run's config from the cleaned data: blank options left to the trainer's defaults;
        the selection only for comparisons (ratings are read as they are)."""
        d = self.cleaned_data
        config = {k: d[k] for k in self.CONFIG_FIELDS if d[k] is not None}
        config["source"] = d["source"]
        if d["source"] == "comparisons":
            config["selection"] = {k: d[k] for k in self.SELECTION_FIELDS}
        return config


class SendToAnnotationForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), label="Into dataset")
    mode = forms.ChoiceField(choices=list(zip(SEND_MODES, ["Policy sample vs SFT sample", "Two policy samples"])))
    n_prompts = forms.IntegerField(min_value=1, max_value=1000, initial=20, label="Prompts")


class GRPORunForm(forms.Form):
    """GRPO on a task set; each option says what it does, so the page explains the run."""

    name = forms.CharField(required=False, max_length=200)
    task_set = forms.ModelChoiceField(queryset=None, label="Task set",
                                      help_text="Checkable tasks (import them on the Data page). The policy trains on "
                                                "the train split; held-out accuracy is measured on the held-out split.")
    sft_run = forms.ModelChoiceField(queryset=sft_runs_succeeded(), required=False, label="SFT run",
                                     help_text="Starting policy (and reference when beta > 0); or give a base model "
                                               "folder instead.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder (instead of an SFT run).")
    reward_spec = forms.JSONField(
        required=False, label="Reward spec",
        help_text='A JSON list of weighted terms, e.g. [{"checker": "numeric", "weight": 1}, {"checker": "regex", '
                  '"pattern": "\\\\s*-?\\\\d+", "weight": 0.2}]. Checkers: exact, numeric, regex, json_schema, code_tests '
                  '(sandboxed), reward_model (needs the reward-model run below). Blank: one term per checker of the '
                  'task set, weight 1.')
    reward_run = forms.ModelChoiceField(queryset=reward_runs_succeeded(), required=False, label="Reward-model run",
                                        help_text="Optional learnt reward, mixed in by a reward_model term.")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000, help_text="GRPO steps.")
    prompts_per_step = forms.IntegerField(min_value=1, max_value=4096, help_text="Distinct train tasks per step.")
    num_generations = forms.IntegerField(min_value=2, max_value=256, label="Group size G",
                                         help_text="Completions per task; each one's advantage is its reward against "
                                                   "its group's. A group whose rewards are all equal teaches nothing.")
    num_iterations = forms.IntegerField(min_value=1, max_value=64, label="Updates per batch",
                                        help_text="Clipped gradient steps on each batch of completions (GRPO's mu).")
    learning_rate = forms.FloatField(min_value=0)
    loss_type = forms.ChoiceField(choices=[("grpo", "GRPO: advantages / group std, per-sequence token mean"),
                                           ("dr_grpo", "Dr. GRPO: no std scaling, constant length normaliser")],
                                  label="Loss")
    beta = forms.FloatField(min_value=0, label="KL coefficient beta",
                            help_text="Weight of the k3 KL to the start model; 0 loads no reference model.")
    epsilon = forms.FloatField(min_value=0.001, max_value=0.999, label="Clip range epsilon")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, help_text="Longest completion, in tokens.")
    max_prompt_tokens = forms.IntegerField(min_value=1, max_value=32768,
                                           help_text="Longer prompts lose their start; with max_new_tokens it must fit "
                                                     "the model's positions.")
    temperature = forms.FloatField(min_value=0.01, help_text="Sampling temperature (also of held-out accuracy).")
    eval_steps = forms.IntegerField(min_value=0, label="Held-out accuracy every K steps",
                                    help_text="0: only before the first and after the last step.")
    save_every = forms.IntegerField(min_value=0, label="Checkpoint every K steps",
                                    help_text="A cancelled or failed run resumes from its last checkpoint.")
    sample_every = forms.IntegerField(min_value=1, initial=5, label="Keep samples every K steps",
                                      help_text="The completions of those steps, with each term's reward and verdict.")

    CONFIG_FIELDS = ("steps", "prompts_per_step", "num_generations", "num_iterations", "learning_rate", "loss_type",
                     "beta", "epsilon", "max_new_tokens", "max_prompt_tokens", "temperature", "eval_steps", "save_every", "sample_every")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from training.grpo import GRPOConfig
        from training.models import TaskSet

        self.fields["task_set"].queryset = TaskSet.objects.order_by("name")
        start_at_defaults(self, GRPOConfig())

    def config(self) -> dict:
        d = self.cleaned_data
        config = {k: d[k] for k in self.CONFIG_FIELDS if d[k] is not None}
        if d.get("reward_spec"):
            config["reward_spec"] = d["reward_spec"]
        return config


class SPINRunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"),
                                     help_text="Demonstrations: each pair's majority-preferred response is the reference "
                                               "(\"chosen\"); the policy's own response to its prompt is \"rejected\".")
    sft_run = forms.ModelChoiceField(queryset=sft_runs_succeeded(), required=False, label="SFT run",
                                     help_text="Starting policy (usually the SFT model of the same data); or give a base "
                                               "model folder instead.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder (instead of an SFT run).")
    iterations = forms.IntegerField(min_value=1, max_value=100,
                                    help_text="Rounds of generate-then-train; each trains against the previous round's "
                                              "policy as its reference.")
    steps_per_iteration = forms.IntegerField(min_value=1, max_value=1_000_000, help_text="DPO steps per round.")
    prompts_per_iteration = forms.IntegerField(min_value=0, max_value=1_000_000,
                                               help_text="Demonstrations generated for each round (0: all).")
    loss_type = forms.ChoiceField(choices=[("sigmoid", "Logistic (SPIN paper, DPO)"), ("ipo", "IPO")], label="Loss")
    beta = forms.FloatField(min_value=0.0001, help_text="How far each round may move from the previous one: smaller "
                                                        "moves further.")
    batch_size = forms.IntegerField(min_value=1, max_value=4096)
    learning_rate = forms.FloatField(min_value=0)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, help_text="Longest response the policy generates.")
    temperature = forms.FloatField(min_value=0.01, help_text="Sampling temperature of the policy's own responses.")
    max_length = forms.IntegerField(min_value=16, max_value=32768, help_text="Tokens per side, prompt cut from the left.")
    max_response_tokens = forms.IntegerField(min_value=1, max_value=32768,
                                             help_text="Longest response kept in a pair (cut from the right).")

    CONFIG_FIELDS = ("iterations", "steps_per_iteration", "prompts_per_iteration", "loss_type", "beta", "batch_size",
                     "learning_rate", "max_new_tokens", "temperature", "max_length", "max_response_tokens")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from training.spin import SPINConfig

        start_at_defaults(self, SPINConfig())

    def config(self) -> dict:
        return {k: self.cleaned_data[k] for k in self.CONFIG_FIELDS if self.cleaned_data[k] is not None}
