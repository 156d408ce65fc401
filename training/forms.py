from django import forms

from annotation.models import Dataset
from training.kl import KL_PENALTIES
from training.ppo import PPOConfig
from training.selectors import reward_runs_succeeded, sft_runs_succeeded
from training.services import SEND_MODES
from training.sft import SFTConfig

_SFT, _PPO = SFTConfig(), PPOConfig()


class SFTRunForm(forms.Form):
    name = forms.CharField(required=False, max_length=200)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"),
                                     help_text="Demonstrations: each pair's majority-preferred response.")
    base_model_path = forms.CharField(required=False, max_length=1024, label="Base model folder",
                                      help_text="A local Hugging Face causal-LM folder; blank: a small GPT-2 from scratch "
                                                "with a tokenizer trained on the dataset (no download).")
    steps = forms.IntegerField(min_value=1, max_value=1_000_000, initial=_SFT.steps)
    batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=_SFT.batch_size)
    learning_rate = forms.FloatField(min_value=0, initial=_SFT.learning_rate)
    max_length = forms.IntegerField(min_value=16, max_value=8192, initial=_SFT.max_length)
    vocab_size = forms.IntegerField(min_value=300, max_value=200_000, initial=_SFT.vocab_size, help_text="From scratch only.")
    n_layer = forms.IntegerField(min_value=1, max_value=48, initial=_SFT.n_layer, help_text="From scratch only.")
    n_embd = forms.IntegerField(min_value=16, max_value=4096, initial=_SFT.n_embd, help_text="From scratch only.")

    CONFIG_FIELDS = ("steps", "batch_size", "learning_rate", "max_length", "vocab_size", "n_layer", "n_embd")


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
    steps = forms.IntegerField(min_value=1, max_value=1_000_000, initial=_PPO.steps)
    batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=_PPO.batch_size)
    mini_batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=_PPO.mini_batch_size)
    ppo_epochs = forms.IntegerField(min_value=1, max_value=100, initial=_PPO.ppo_epochs)
    learning_rate = forms.FloatField(min_value=0, initial=_PPO.learning_rate)
    init_kl_coef = forms.FloatField(min_value=0, initial=_PPO.init_kl_coef, label="Initial beta (KL coefficient)")
    adap_kl_ctrl = forms.BooleanField(required=False, initial=_PPO.adap_kl_ctrl, label="Adaptive beta (Ziegler et al.)")
    target = forms.FloatField(min_value=0.001, initial=_PPO.target, label="Target KL")
    horizon = forms.FloatField(min_value=1, initial=_PPO.horizon)
    kl_penalty = forms.ChoiceField(choices=[(k, k) for k in KL_PENALTIES], initial=_PPO.kl_penalty, label="KL estimator")
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=_PPO.max_new_tokens)
    temperature = forms.FloatField(min_value=0.01, initial=_PPO.temperature)
    top_p = forms.FloatField(min_value=0.01, max_value=1.0, initial=_PPO.top_p)
    sample_every = forms.IntegerField(min_value=1, initial=5, help_text="Keep a table of samples every K steps.")
    kl_limit = forms.FloatField(min_value=0, initial=20.0, label="KL monitor limit")

    CONFIG_FIELDS = ("steps", "batch_size", "mini_batch_size", "ppo_epochs", "learning_rate", "init_kl_coef",
                     "adap_kl_ctrl", "target", "horizon", "kl_penalty", "max_new_tokens", "temperature", "top_p",
                     "sample_every", "kl_limit")

    def clean(self):
        data = super().clean()
        if data.get("batch_size") and data.get("mini_batch_size") and data["batch_size"] % data["mini_batch_size"]:
            self.add_error("mini_batch_size", "The mini-batch size must divide the batch size.")
        return data


class SendToAnnotationForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"), label="Into dataset")
    mode = forms.ChoiceField(choices=list(zip(SEND_MODES, ["Policy sample vs SFT sample", "Two policy samples"])))
    n_prompts = forms.IntegerField(min_value=1, max_value=1000, initial=20, label="Prompts")
