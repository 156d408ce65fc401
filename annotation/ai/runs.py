"""The `ai_label` job: an AI labeller judges a dataset's pairs (all, or those with fewer than k
human judgements), on the job machinery of common/jobs.py: progress and heartbeats, cancel at the
next pair, resume that skips the pairs already judged. A pair that fails (no order readable, or an
error) is listed in the run's `failures` with its answers and tried again on a resume; it never
ends the run. A run where every pair failed is marked failed, with the first pair's error."""
import logging
import os
import socket
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F

from annotation.ai import selectors, services
from annotation.ai.backends import backend_for
from annotation.models import AILabeller, AILabelRun, Dataset
from common.exceptions import ApplicationError
from common.jobs import (job_cancel, job_fail, job_heartbeat, job_mark_cancelled, job_requeue, job_start, job_succeed,
                         jobs_fail_stale)

logger = logging.getLogger("arbiter.ai")
FAILURES_KEPT = 200
# A pair is judged within one request to a server (at most its timeout and retries) or one
# forward pass: the background heartbeat of common.jobs covers longer ones.
STALE_AFTER = timedelta(minutes=5)


def _enqueue(run: AILabelRun) -> None:
    from annotation.tasks import ai_label_run_task

    transaction.on_commit(lambda: ai_label_run_task.delay(run.pk))


@transaction.atomic
def ai_label_run_create(*, ai_labeller: AILabeller, dataset: Dataset, limit: int | None = None,
                        below_human_k: int | None = None, seed: int | None = None, pair_ids: list[int] | None = None,
                        created_by=None, enqueue: bool = True) -> AILabelRun:
    """Queues an AI labelling run (with enqueue=False the caller runs ai_label_run_execute itself)."""
    if limit is not None and limit < 1:
        raise ApplicationError("The limit must be at least 1 pair.")
    if below_human_k is not None and below_human_k < 1:
        raise ApplicationError("k (fewer than k human judgements) must be at least 1.")
    pair_ids = sorted(set(pair_ids or []))
    if len(pair_ids) != dataset.pairs.filter(pk__in=pair_ids).count():
        raise ApplicationError(f"Some of the pairs named are not pairs of {dataset.name}.")
    busy = AILabelRun.objects.filter(ai_labeller=ai_labeller, dataset=dataset, status__in=["queued", "running"]).first()
    if busy is not None:
        raise ApplicationError(f"AI labelling run {busy.pk} of this labeller on this dataset is {busy.status}; "
                               "wait for it or cancel it first.")
    if seed is None:
        seed = int((ai_labeller.settings or {}).get("seed", 0))
    try:
        with transaction.atomic():
            run = AILabelRun.objects.create(
                ai_labeller=ai_labeller, dataset=dataset, limit=limit, below_human_k=below_human_k, seed=seed,
                pair_ids=pair_ids, created_by=created_by,
                config={"backend": ai_labeller.backend, "settings": ai_labeller.settings,
                        "constitution": str(ai_labeller.constitution or "")})
    except IntegrityError as exc:  # another request created one since the check above
        raise ApplicationError("A run of this labeller on this dataset is already queued or running.") from exc
    if enqueue:
        _enqueue(run)
    return run


def ai_label_run_cancel(*, run: AILabelRun) -> AILabelRun:
    return job_cancel(run)


def ai_label_run_resume(*, run: AILabelRun) -> AILabelRun:
    try:
        run = job_requeue(run)
    except IntegrityError as exc:
        raise ApplicationError("Another run of this labeller on this dataset is queued or running; resume this one "
                               "when it has ended.") from exc
    _enqueue(run)
    return run


def _record_failure(run: AILabelRun, pair_id: int, error: str, orders: list | None = None) -> None:
    failure = {"pair_id": pair_id, "error": error[:1000], "orders": orders or []}
    row = AILabelRun.objects.select_for_update().get(pk=run.pk)
    if len(row.failures) < FAILURES_KEPT:
        row.failures = [*row.failures, failure]
    row.n_failed += 1
    row.save(update_fields=["failures", "n_failed"])


def _judge_one(run: AILabelRun, backend, pair) -> bool:
    """Judges and records one pair; False (and the failure recorded) when it could not."""
    ai = run.ai_labeller
    start = time.monotonic()
    try:
        combined, detail = services.pair_judge(ai=ai, backend=backend, pair=pair, seed=run.seed)
        if combined.choice is None:
            with transaction.atomic():
                _record_failure(run, pair.pk, detail["error"] or "No order gave a readable verdict.", detail["orders"])
            return False
        with transaction.atomic():
            services.ai_judgement_record(ai=ai, pair=pair, combined=combined, detail=detail,
                                         time_ms=services.clock_ms(start))
            AILabelRun.objects.filter(pk=run.pk).update(n_judged=F("n_judged") + 1)
        return True
    except Exception as exc:  # one pair's failure is recorded on it, never the run's end
        logger.warning("AI labelling run %s: pair %s failed: %s", run.pk, pair.pk, type(exc).__name__)
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        with transaction.atomic():
            _record_failure(run, pair.pk, message)
        return False


def ai_label_run_execute(*, run_id: int, worker: str = "") -> AILabelRun:
    """Runs a queued run to its end: succeeded, cancelled, or failed (never left running, whatever
    is raised)."""
    run = job_start(AILabelRun.objects.select_related("ai_labeller__labeller", "ai_labeller__constitution",
                                                      "ai_labeller__reward_run").get(pk=run_id),
                    worker=worker or f"{socket.gethostname()}:{os.getpid()}")
    try:
        return _judge_all(run)
    except ApplicationError as exc:
        return job_fail(run, error=exc.message)
    except Exception as exc:
        job_fail(run, error=f"The run crashed: {type(exc).__name__}: {exc}")
        raise


def _judge_all(run: AILabelRun) -> AILabelRun:
    pairs = selectors.pairs_to_judge(run=run)
    if run.limit is not None:
        pairs = pairs[: max(0, run.limit - run.n_judged)]
    pairs = list(pairs)
    AILabelRun.objects.filter(pk=run.pk).update(n_pairs=len(pairs), n_failed=0, failures=[])
    backend = backend_for(run.ai_labeller)
    judged = 0
    for i, pair in enumerate(pairs):
        if job_heartbeat(run, progress=i / max(1, len(pairs))):
            return job_mark_cancelled(run)
        judged += _judge_one(run, backend, pair)
    run.refresh_from_db()
    summary = {"n_pairs": len(pairs), "n_judged_now": judged, "n_failed": run.n_failed,
               "n_judged_total": run.n_judged}
    if pairs and not judged:
        first = run.failures[0]["error"] if run.failures else "unknown"
        AILabelRun.objects.filter(pk=run.pk).update(summary=summary)
        return job_fail(run, error=f"Every pair failed; the first: {first}")
    return job_succeed(run, summary=summary)


def ai_label_runs_fail_stale(*, restarted_node: str = "") -> int:
    return jobs_fail_stale(AILabelRun, older_than=STALE_AFTER, restarted_node=restarted_node)
