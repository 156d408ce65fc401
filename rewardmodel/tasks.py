"""Celery tasks: thin wrappers that take an id and call one service."""
from celery import shared_task
from celery.signals import worker_ready

from common.tasks import JobTask
from rewardmodel.models import RewardModelRun


@shared_task(bind=True, base=JobTask, job_model=RewardModelRun, acks_late=True)
def reward_run_train(self, run_id: int) -> str:
    from rewardmodel.execution import reward_run_execute

    return reward_run_execute(run_id=run_id, worker=self.request.hostname or "").status


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


# CELERY_BEAT_SCHEDULE in config/settings.py runs these; a worker also reaps dead runs when it starts.
@worker_ready.connect
def _reap_on_start(sender, **kwargs):
    from rewardmodel.services import reward_runs_fail_stale

    reward_runs_fail_stale(restarted_node=sender.hostname)
