"""Celery tasks: thin. Each loads its run and calls one service; a failure hook marks the run
failed even when the service could not (e.g. the row failed to load mid-way)."""
from celery import Task, shared_task

from common.jobs import job_fail
from training.execute import dpo_run_execute, policy_run_execute, sft_run_execute
from training.models import PolicyRun, SFTRun
from training.services import runs_fail_stale


class _RunTask(Task):
    model = None

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        run = self.model.objects.filter(pk=args[0]).first()
        if run is not None:
            job_fail(run, error=f"{type(exc).__name__}: {exc}")


class _SFTTask(_RunTask):
    model = SFTRun


class _PolicyTask(_RunTask):
    model = PolicyRun


@shared_task(bind=True, base=_SFTTask, acks_late=True)
def sft_run_task(self, run_id: int) -> str:
    run = SFTRun.objects.get(pk=run_id)
    return sft_run_execute(run=run, worker=self.request.hostname or "").status


@shared_task(bind=True, base=_PolicyTask, acks_late=True)
def policy_run_task(self, run_id: int) -> str:
    run = PolicyRun.objects.get(pk=run_id)
    execute = dpo_run_execute if run.kind == PolicyRun.Kind.DPO else policy_run_execute
    return execute(run=run, worker=self.request.hostname or "").status


@shared_task
def training_runs_fail_stale() -> int:
    """Run periodically (celery beat): marks failed the runs whose worker died, so that none stays
    "running" for ever; they can then be resumed from their last checkpoint."""
    return runs_fail_stale()
