from django.db import models
from django.db.models import Q

from annotation.models import Dataset, Pair
from common.models import Job


class RewardModelRun(Job):
    """Training of one Bradley-Terry reward model. `artifact_path` (when succeeded) is a standard
    Hugging Face folder loadable with AutoModelForSequenceClassification and AutoTokenizer.

    `config` holds {"train": RewardTrainConfig fields, "selection": SelectionConfig fields}."""

    name = models.CharField(max_length=200, blank=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="reward_runs")
    base_model_path = models.CharField(max_length=1024)
    data_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Hash of the judgement ids used, counts, and the selection settings."
    )
    retrain_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retrains")

    class Meta(Job.Meta):
        pass

    def __str__(self):
        return self.name or f"Reward model run {self.pk}"


class RewardModelStep(models.Model):
    """Metrics of one logged optimizer step (TRL's names: loss, accuracy, margin, eval_loss...)."""

    run = models.ForeignKey(RewardModelRun, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    metrics = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="reward_step_unique")]


class PairScore(models.Model):
    """A trained reward model's scores of one pair's two responses (batch scoring, for the queue)."""

    run = models.ForeignKey(RewardModelRun, on_delete=models.CASCADE, related_name="pair_scores")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="reward_scores")
    score_a = models.FloatField()
    score_b = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "pair"], name="pair_score_unique")]


class AutoRetrainPolicy(models.Model):
    """Retrain a dataset's reward model every `every_n_judgements` new counted judgements."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="auto_retrain")
    enabled = models.BooleanField(default=True)
    every_n_judgements = models.PositiveIntegerField()
    template_run = models.ForeignKey(
        RewardModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Its base model and config are reused; blank: the defaults.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(every_n_judgements__gte=1), name="auto_retrain_every_positive")]


class AutoRetrainTrigger(models.Model):
    """One firing of the auto-retrain for a threshold (a multiple of every_n_judgements); the
    unique constraint is what keeps two checkers from firing twice for the same threshold."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="auto_retrain_triggers")
    threshold = models.PositiveIntegerField()
    run = models.ForeignKey(RewardModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "threshold"], name="auto_retrain_once_per_threshold")]
