from django.db import models

from annotation.models import Dataset
from common.models import Job


class RewardModelRun(Job):
    """Training of one Bradley-Terry reward model. `artifact_path` (when succeeded) is a standard
    Hugging Face folder loadable with AutoModelForSequenceClassification and AutoTokenizer."""

    name = models.CharField(max_length=200, blank=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="reward_runs")
    base_model_path = models.CharField(max_length=1024)

    class Meta(Job.Meta):
        pass

    def __str__(self):
        return self.name or f"Reward model run {self.pk}"
