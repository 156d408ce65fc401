"""Policy runs: supervised fine-tuning on demonstrations (step 1 of RLHF) and PPO against a
reward model (step 3), with what a PPO run records as it goes: per-step metrics, sampled
responses to read, and reward-hacking warnings."""
from django.db import models
from django.db.models import Q

from annotation.models import Dataset
from common.models import Job
from rewardmodel.models import RewardModelRun


class SFTRun(Job):
    """Fine-tunes a causal LM on a dataset's preferred responses. `base_model_path` blank: a small
    GPT-2 from scratch with a tokenizer trained on the dataset (the offline demo). When succeeded,
    `artifact_path` is a standard Hugging Face folder (AutoModelForCausalLM + AutoTokenizer)."""

    name = models.CharField(max_length=200, blank=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="sft_runs")
    base_model_path = models.CharField(max_length=1024, blank=True)
    # [[step, loss], ...], appended as training goes, for the live chart.
    losses = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self):
        return self.name or f"SFT run {self.pk}"


class TaskSet(models.Model):
    """A named set of tasks whose answers a program can check (GRPO's training data): imported from
    JSON Lines (`import_data --format tasks`, the Data page), split into train and held-out tasks."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    source_filename = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Task(models.Model):
    """One prompt with its reference answer and the checker that compares a response with it
    (training/rewards/checkers.py). `prompt` is the text the policy continues, or a list of chat
    messages ({"role", "content"}) rendered through the policy's chat template."""

    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        HELD_OUT = "held_out", "Held out"

    task_set = models.ForeignKey(TaskSet, on_delete=models.CASCADE, related_name="tasks")
    external_id = models.CharField(max_length=200)
    prompt = models.JSONField(help_text="A string, or a list of {role, content} messages.")
    reference = models.TextField()
    checker = models.CharField(max_length=32)
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.TRAIN)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["task_set", "external_id"], name="task_external_id_unique"),
            models.CheckConstraint(condition=Q(split__in=["train", "held_out"]), name="task_split_valid"),
        ]

    def __str__(self):
        return f"{self.task_set} / {self.external_id}"


# Every kind but PPO starts from exactly one of an SFT run and a model folder.
ONE_START_MODEL = Q(sft_run__isnull=False, base_model_path="") | Q(sft_run__isnull=True) & ~Q(base_model_path="")


class PolicyRun(Job):
    """A policy trained from the labellers' preferences or from checkable tasks. PPO: of the SFT
    model against a reward model, with a KL penalty to the SFT model, prompts from `dataset`.
    DPO and SPIN: directly on `dataset`'s labelled pairs or demonstrations (no reward model); KTO: on
    its thumbs-up/down ratings or comparisons taken apart. GRPO: on `task_set`'s tasks against
    verifiable rewards, optionally mixed with `reward_run`'s learnt reward (no `dataset`). All but
    PPO start from the SFT model or `base_model_path`, which is also the reference. When succeeded,
    `artifact_path` is the final policy's HF folder."""

    class Kind(models.TextChoices):
        PPO = "ppo", "PPO"
        DPO = "dpo", "DPO"
        KTO = "kto", "KTO"
        SPIN = "spin", "SPIN"
        GRPO = "grpo", "GRPO"

    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PPO)
    sft_run = models.ForeignKey(SFTRun, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_runs")
    base_model_path = models.CharField(
        max_length=1024, blank=True,
        help_text="All kinds but PPO: a local HF causal-LM folder to start from, instead of an SFT run.",
    )
    reward_run = models.ForeignKey(RewardModelRun, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="policy_runs")
    held_out_reward_run = models.ForeignKey(
        RewardModelRun, null=True, blank=True, on_delete=models.PROTECT, related_name="held_out_policy_runs",
        help_text="Optional second reward model, scored but not optimised: the over-optimisation check.",
    )
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_runs")
    task_set = models.ForeignKey(TaskSet, null=True, blank=True, on_delete=models.PROTECT, related_name="policy_runs")
    # Statistics of the SFT model's own samples (the first rollout batch), which the monitors
    # compare later batches against; kept so a resumed run keeps the same baseline.
    baseline = models.JSONField(default=dict, blank=True)
    # DPO, KTO, SPIN: what the data selection kept (rewardmodel/selection.py's snapshot, with its hash).
    data_snapshot = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="ppo", sft_run__isnull=False, reward_run__isnull=False, base_model_path="")
                           | (Q(kind__in=["dpo", "kto", "spin"], reward_run__isnull=True, held_out_reward_run__isnull=True)
                              & ONE_START_MODEL)
                           | (Q(kind="grpo", held_out_reward_run__isnull=True) & ONE_START_MODEL)),
                name="policy_run_sources_fit_kind",
            ),
            # GRPO learns from a task set; every other kind from a dataset.
            models.CheckConstraint(
                condition=(Q(kind="grpo", task_set__isnull=False, dataset__isnull=True)
                           | (~Q(kind="grpo") & Q(task_set__isnull=True, dataset__isnull=False))),
                name="policy_run_data_fits_kind",
            ),
        ]

    def __str__(self):
        return self.name or f"{self.get_kind_display()} run {self.pk}"


class PolicyStep(models.Model):
    """The metrics of one PPO step, named as in TRL (`objective/kl`, `policy/clipfrac`, ...)."""

    run = models.ForeignKey(PolicyRun, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    metrics = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="policy_step_unique")]


class PolicySample(models.Model):
    """A rollout kept for reading: untrusted model output, always rendered escaped."""

    run = models.ForeignKey(PolicyRun, on_delete=models.CASCADE, related_name="samples")
    step = models.PositiveIntegerField()
    prompt = models.TextField()
    response = models.TextField()
    score = models.FloatField()
    kl = models.FloatField()
    held_out_score = models.FloatField(null=True, blank=True)
    # GRPO: {"task_id", "rewards": {term: reward}, "verdicts": {term: reason}}: why it scored what it did.
    details = models.JSONField(default=dict, blank=True)
    # SPIN: the iteration whose "rejected" side this sample is (None for other kinds).
    iteration = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-step", "id"]
        indexes = [models.Index(fields=["run", "step"])]


class MonitorWarning(models.Model):
    """A reward-hacking monitor that fired. One row per (run, kind): later firings update the
    step and value, so the page shows each problem once with its latest evidence."""

    class Kind(models.TextChoices):
        LENGTH = "length", "Response length drifting from the SFT model's"
        REPETITION = "repetition", "Repetition rising (distinct-n falling)"
        KEYWORD = "keyword", "One word repeated across responses"
        HEDGING = "hedging", "Disclaimers and hedges rising"
        FORMATTING = "formatting", "Formatting (bullets, headers, bold) rising"
        KL = "kl", "KL to the reference beyond its limit"
        OVEROPTIMISATION = "overoptimisation", "Held-out reward falling while the proxy rises"

    run = models.ForeignKey(PolicyRun, on_delete=models.CASCADE, related_name="warnings")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField()
    step = models.PositiveIntegerField()
    value = models.FloatField()
    threshold = models.FloatField()
    first_step = models.PositiveIntegerField()
    times_fired = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(fields=["run", "kind"], name="monitor_warning_once_per_kind"),
            models.CheckConstraint(condition=Q(first_step__lte=models.F("step")), name="monitor_warning_steps_ordered"),
        ]
