"""Celery tasks: thin. Each loads its run and calls one service; the JobTask base skips a second
delivery of a started run and marks the run failed when something escaped the service."""
from celery import shared_task
from celery.signals import worker_ready

from common.tasks import JobTask
from training.execute import dpo_run_execute, kto_run_execute, policy_run_execute, sft_run_execute, spin_run_execute
from training.execute_grpo import grpo_run_execute
from training.models import PolicyRun, SFTRun
from training.services import runs_fail_stale

POLICY_RUN_EXECUTORS = {
    PolicyRun.Kind.PPO: policy_run_execute,
    PolicyRun.Kind.DPO: dpo_run_execute,
    PolicyRun.Kind.KTO: kto_run_execute,
    PolicyRun.Kind.SPIN: spin_run_execute,
    PolicyRun.Kind.GRPO: grpo_run_execute,
}


@shared_task(bind=True, base=JobTask, job_model=SFTRun, acks_late=True)
def sft_run_task(self, run_id: int) -> str:
    run = SFTRun.objects.get(pk=run_id)
    return sft_run_execute(run=run, worker=self.request.hostname or "").status


@shared_task(bind=True, base=JobTask, job_model=PolicyRun, acks_late=True)
def policy_run_task(self, run_id: int) -> str:
    run = PolicyRun.objects.get(pk=run_id)
    execute = POLICY_RUN_EXECUTORS[run.kind]
    return execute(run=run, worker=self.request.hostname or "").status


@shared_task
def training_runs_fail_stale() -> int:
    """Run periodically (celery beat): marks failed the runs whose worker died, so that none stays
    "running" for ever; they can then be resumed from their last checkpoint."""
    return runs_fail_stale()


@worker_ready.connect
def _reap_on_start(sender, **kwargs):
    """A worker that starts (again) ends the SFT and PPO runs of workers that died meanwhile."""
    runs_fail_stale(restarted_node=sender.hostname)
