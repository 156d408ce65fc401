"""Celery tasks: thin wrappers that take an id and call one service."""
import socket

from celery import Task, shared_task
from celery.signals import worker_ready


class RewardRunTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Whatever escaped the service (a lost database, a killed import): the run must not stay running.
        from common.jobs import job_fail
        from rewardmodel.models import RewardModelRun

        run = RewardModelRun.objects.filter(pk=args[0]).first() if args else None
        if run is not None:
            job_fail(run, error=f"The training task crashed: {type(exc).__name__}: {exc}")


@shared_task(base=RewardRunTask, acks_late=True)
def reward_run_train(run_id: int) -> str:
    from rewardmodel.execution import reward_run_execute

    return reward_run_execute(run_id=run_id, worker=socket.gethostname()).status


@shared_task
def reward_run_score_pairs(run_id: int, dataset_id: int) -> int:
    from rewardmodel.scoring import pair_scores_compute

    return pair_scores_compute(run_id=run_id, dataset_id=dataset_id)


@shared_task
def reward_runs_reap_stale() -> int:
    from rewardmodel.services import reward_runs_fail_stale

    return reward_runs_fail_stale()


@shared_task
def reward_auto_retrain_sweep() -> int:
    from rewardmodel.services import auto_retrain_check_all

    return len(auto_retrain_check_all())


# CELERY_BEAT_SCHEDULE in config/settings.py runs these; a worker also reaps stale runs when it starts.
@worker_ready.connect
def _reap_on_start(**kwargs):
    from rewardmodel.services import reward_runs_fail_stale

    reward_runs_fail_stale()
