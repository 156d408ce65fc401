from django.conf import settings
from django.db import models
from django.utils.dateparse import parse_datetime


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(models.Model):
    """A long piece of work run by a Celery worker: reward-model training, SFT, PPO.

    Moved between states only through the services in common/jobs.py.
    """

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    config = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    summary = models.JSONField(default=dict, blank=True, help_text="Final evaluation and headline metrics.")
    error = models.TextField(blank=True)
    artifact_path = models.CharField(max_length=1024, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    attempts = models.JSONField(
        default=list, blank=True,
        help_text="One entry per start: {attempt, worker, started_at (ISO 8601)}; resumes add one.",
    )
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="The first start; resumes are in attempts.")
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def starts(self) -> list[dict]:
        """`attempts` with started_at as a datetime, for the run pages."""
        return [{**entry, "started_at": parse_datetime(entry["started_at"])} for entry in self.attempts]
