"""State changes of Job rows (see common.models.Job). Every change locks the row first, so a
worker and a user clicking "cancel" at the same moment never overwrite each other."""
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from common.exceptions import ApplicationError
from common.models import Job, JobStatus

ALLOWED_MOVES = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED},
    JobStatus.RUNNING: {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED},
    # A failed or cancelled run may be queued again: it resumes from its last checkpoint.
    JobStatus.FAILED: {JobStatus.QUEUED},
    JobStatus.CANCELLED: {JobStatus.QUEUED},
    JobStatus.SUCCEEDED: set(),
}


def _locked(job: Job) -> Job:
    return type(job).objects.select_for_update().get(pk=job.pk)


def _move(job: Job, to: str, **fields) -> Job:
    with transaction.atomic():
        row = _locked(job)
        if to not in ALLOWED_MOVES[row.status]:
            raise ApplicationError(f"{type(job).__name__} {job.pk} is {row.status}; it cannot become {to}.")
        row.status = to
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
    job.refresh_from_db()
    return job


def job_start(job: Job, *, worker: str = "") -> Job:
    now = timezone.now()
    return _move(
        job, JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now, attempt=job.attempt + 1, error=""
    )


def job_heartbeat(job: Job, *, progress: float | None = None) -> bool:
    """Records that the worker is alive; returns True when a user asked to cancel."""
    fields = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = max(0.0, min(1.0, progress))
    type(job).objects.filter(pk=job.pk).update(**fields)
    if progress is not None:
        job.progress = fields["progress"]
    return type(job).objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_succeed(job: Job, *, artifact_path: str = "", summary: dict | None = None) -> Job:
    fields = {"finished_at": timezone.now(), "progress": 1.0, "artifact_path": artifact_path}
    if summary is not None:
        fields["summary"] = summary
    return _move(job, JobStatus.SUCCEEDED, **fields)


def job_fail(job: Job, *, error: str) -> Job:
    """Marks the job failed unless it already ended; safe to call from any failure hook."""
    with transaction.atomic():
        row = _locked(job)
        if row.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return row
        row.status = JobStatus.FAILED
        row.error = error[:10_000]
        row.finished_at = timezone.now()
        row.save()
    job.refresh_from_db()
    return job


def job_cancel(job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop at its next heartbeat."""
    with transaction.atomic():
        row = _locked(job)
        if row.status == JobStatus.QUEUED:
            row.status = JobStatus.CANCELLED
            row.finished_at = timezone.now()
        elif row.status == JobStatus.RUNNING:
            row.cancel_requested = True
        else:
            raise ApplicationError(f"{type(job).__name__} {job.pk} is {row.status}; there is nothing to cancel.")
        row.save()
    job.refresh_from_db()
    return job


def job_mark_cancelled(job: Job) -> Job:
    return _move(job, JobStatus.CANCELLED, finished_at=timezone.now())


def job_requeue(job: Job) -> Job:
    """Queues a failed or cancelled job again (the task resumes from its last checkpoint)."""
    return _move(job, JobStatus.QUEUED, cancel_requested=False, finished_at=None, error="")


def jobs_fail_stale(model: type[Job], *, older_than: timedelta) -> int:
    """Marks failed every running job whose worker has not sent a heartbeat for `older_than`
    (its worker died); returns how many."""
    cutoff = timezone.now() - older_than
    stale = model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    count = 0
    for pk in list(stale):
        job = model.objects.get(pk=pk)
        job_fail(job, error=f"The worker stopped sending heartbeats (none since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); it probably died. Resume to continue from the last checkpoint.")
        count += 1
    return count
