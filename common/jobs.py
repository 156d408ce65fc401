"""State changes of Job rows (see common.models.Job). Every change locks the row first, so a
worker and a user clicking "cancel" at the same moment never overwrite each other.

Liveness: whoever starts a job (a worker's task, or a command running it inline) beats for it from
a background thread every HEARTBEAT_EVERY, however long a training step takes. A running job
silent for STALE_AFTER is taken for dead (its process was killed): the reapers end it, cancel ends
it at once, and resume queues it again."""
import logging
import threading
from datetime import timedelta

from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from common.exceptions import ApplicationError
from common.models import Job, JobStatus

logger = logging.getLogger("arbiter.jobs")

HEARTBEAT_EVERY = timedelta(seconds=10)
# Four and a half missed beats. With the reapers every 15 s (CELERY_BEAT_SCHEDULE), a killed
# worker's run is ended within about a minute; a live worker's never is.
STALE_AFTER = timedelta(seconds=45)

ALLOWED_MOVES = {
    JobStatus.QUEUED: {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED},
    JobStatus.RUNNING: {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED},
    # A failed or cancelled run may be queued again: it resumes from its last checkpoint.
    JobStatus.FAILED: {JobStatus.QUEUED},
    JobStatus.CANCELLED: {JobStatus.QUEUED},
    JobStatus.SUCCEEDED: set(),
}
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobAlreadyStarted(ApplicationError):
    """job_start found the job no longer queued: another delivery of its task started it, or a user
    cancelled it. That delivery has nothing to do."""


def _named(job: Job) -> str:
    return f"{type(job).__name__} {job.pk}"


def _locked(job: Job) -> Job:
    return type(job).objects.select_for_update().get(pk=job.pk)


def _is_silent(row: Job, stale_after: timedelta) -> bool:
    return row.heartbeat_at is None or row.heartbeat_at < timezone.now() - stale_after


def _move(job: Job, to: str, **fields) -> Job:
    with transaction.atomic():
        row = _locked(job)
        if to not in ALLOWED_MOVES[row.status]:
            raise ApplicationError(f"{_named(job)} is {row.status}; it cannot become {to}.")
        row.status = to
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
    if to in ENDED:
        _stop_beating(job)
    job.refresh_from_db()
    return job


def job_start(job: Job, *, worker: str = "") -> Job:
    """Moves a queued job to running on `worker` (a Celery node name, w1@host), lists the attempt
    in job.attempts (started_at keeps the first start) and beats for it from a background thread
    until it ends. Raises JobAlreadyStarted when the job is no longer queued."""
    now = timezone.now()
    with transaction.atomic():
        row = _locked(job)
        if row.status != JobStatus.QUEUED:
            raise JobAlreadyStarted(f"{_named(job)} is {row.status}; this delivery of its task has nothing to do.")
        row.status, row.worker, row.error, row.heartbeat_at = JobStatus.RUNNING, worker, "", now
        row.attempt += 1
        row.started_at = row.started_at or now
        row.attempts = [*row.attempts, {"attempt": row.attempt, "worker": worker, "started_at": now.isoformat()}]
        row.save()
        transaction.on_commit(lambda: _beat_in_background(row))
    job.refresh_from_db()
    return job


# (model label, pk) -> the event that stops the heartbeat thread this process runs for that job
_heartbeat_stops: dict[tuple[str, int], threading.Event] = {}


def _beat_in_background(job: Job) -> None:
    _stop_beating(job)
    stop = _heartbeat_stops[(job._meta.label, job.pk)] = threading.Event()
    threading.Thread(target=_beat_until_ended, args=(type(job), job.pk, job.attempt, stop), daemon=True,
                     name=f"job-heartbeat-{job._meta.label}-{job.pk}").start()


def _stop_beating(job: Job) -> None:
    stop = _heartbeat_stops.pop((job._meta.label, job.pk), None)
    if stop is not None:
        stop.set()


def _beat_until_ended(model: type[Job], pk: int, attempt: int, stop: threading.Event) -> None:
    """The heartbeat thread: beats until this process ends the job (stop) or the database shows
    that this attempt is over (ended, or reaped and started again elsewhere)."""
    while not stop.wait(HEARTBEAT_EVERY.total_seconds()):
        try:
            if not _beat(model, pk, attempt):
                return
        except DatabaseError:
            logger.warning("job %s %s: a heartbeat failed; the next one may get through", model.__name__, pk,
                           exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection: none is held between beats


def _beat(model: type[Job], pk: int, attempt: int) -> bool:
    running = model.objects.filter(pk=pk, status=JobStatus.RUNNING, attempt=attempt)
    if not running.exists():
        return False
    with transaction.atomic():
        # A row locked by a state change (or a test's open transaction) is skipped, never waited for.
        free = list(running.select_for_update(skip_locked=True).values_list("pk", flat=True))
        model.objects.filter(pk__in=free).update(heartbeat_at=timezone.now())
    return True


def job_heartbeat(job: Job, *, progress: float | None = None) -> bool:
    """Records progress (and that the worker is alive); returns True when a user asked to cancel."""
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


def job_fail(job: Job, *, error: str, running_on: str | None = None) -> Job:
    """Marks the job failed unless it already ended; safe to call from any failure hook. With
    `running_on` (a task's failure hook passes its worker), a running job is failed only when that
    worker runs it: a crashed second delivery must not fail the run the first one is training."""
    with transaction.atomic():
        row = _locked(job)
        if row.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return row
        if running_on is not None and row.status == JobStatus.RUNNING and row.worker != running_on:
            return row
        row.status = JobStatus.FAILED
        row.error = error[:10_000]
        row.finished_at = timezone.now()
        row.save()
    _stop_beating(job)
    job.refresh_from_db()
    return job


def _end_dead(row: Job) -> None:
    """Ends a running job whose worker is silent: cancelled if a user asked for it, else failed."""
    row.finished_at = timezone.now()
    if row.cancel_requested:
        row.status = JobStatus.CANCELLED
    else:
        last = f"{row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if row.heartbeat_at else "none ever"
        row.status = JobStatus.FAILED
        row.error = (f"Its worker {row.worker or '(unknown)'} stopped sending heartbeats (last: {last}); it "
                     f"probably died. Resume to continue from the last checkpoint.")
    row.save()


def job_cancel(job: Job, *, stale_after: timedelta = STALE_AFTER) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop at its next heartbeat, or
    cancelled at once when its worker is silent (dead: nobody would read the request)."""
    with transaction.atomic():
        row = _locked(job)
        if row.status == JobStatus.QUEUED:
            row.status = JobStatus.CANCELLED
            row.finished_at = timezone.now()
            row.save()
        elif row.status == JobStatus.RUNNING:
            row.cancel_requested = True
            if _is_silent(row, stale_after):
                _end_dead(row)
            else:
                row.save()
        else:
            raise ApplicationError(f"{_named(job)} is {row.status}; there is nothing to cancel.")
    job.refresh_from_db()
    return job


def job_mark_cancelled(job: Job) -> Job:
    return _move(job, JobStatus.CANCELLED, finished_at=timezone.now())


def _not_resumable(row: Job) -> str:
    if row.status == JobStatus.RUNNING:
        age = int((timezone.now() - row.heartbeat_at).total_seconds())
        return (f"{_named(row)} is still running on {row.worker or 'a worker'} (last heartbeat {age} s ago), so it "
                f"cannot be resumed. Cancel it first; if its worker has died, the run is marked failed within "
                f"about a minute and can be resumed then.")
    if row.status == JobStatus.QUEUED:
        return f"{_named(row)} is already queued: it starts when a worker is free."
    return f"{_named(row)} succeeded: there is nothing to resume. Start a new run to train again."


def job_requeue(job: Job, *, stale_after: timedelta = STALE_AFTER) -> Job:
    """Queues a failed or cancelled job again (the task resumes from its last checkpoint), and a
    running one whose worker is silent (dead). Otherwise says why it cannot."""
    with transaction.atomic():
        row = _locked(job)
        dead = row.status == JobStatus.RUNNING and _is_silent(row, stale_after)
        if not dead and row.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise ApplicationError(_not_resumable(row))
        row.status, row.cancel_requested, row.finished_at, row.error = JobStatus.QUEUED, False, None, ""
        row.save()
    job.refresh_from_db()
    return job


def jobs_fail_stale(model: type[Job], *, older_than: timedelta = STALE_AFTER, restarted_node: str = "") -> int:
    """Ends every running job silent for `older_than` (its worker died): failed, or cancelled when
    a user had asked to cancel it. With `restarted_node` (a worker starting under that name), also
    the jobs recorded on that node silent for two beats: the process that had the name before was
    killed, as a live one beats every HEARTBEAT_EVERY. Returns how many."""
    now = timezone.now()

    def silent_since(cutoff):
        return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)

    dead = silent_since(now - older_than)
    if restarted_node:
        dead |= Q(worker=restarted_node) & silent_since(now - 2 * HEARTBEAT_EVERY)
    count = 0
    for pk in list(model.objects.filter(dead, status=JobStatus.RUNNING).values_list("pk", flat=True)):
        with transaction.atomic():
            # Checked again under the lock: the job may have ended, or beaten, since the query above.
            row = model.objects.select_for_update().filter(dead, pk=pk, status=JobStatus.RUNNING).first()
            if row is not None:
                _end_dead(row)
                count += 1
    return count
