"""Real worker processes: a second delivery of a started run, and what a starting worker reaps."""
import socket
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from common.jobs import job_start
from common.models import JobStatus
from common.tasks import ping
from rewardmodel.models import RewardModelRun
from rewardmodel.tasks import reward_run_train
from tests.conftest import wait_for
from tests.training.factories import PolicyRunFactory, RewardModelRunFactory, SFTRunFactory
from training.models import PolicyRun, SFTRun

pytestmark = pytest.mark.celery_worker


def sessions_waiting_for_my_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="forces the race with PostgreSQL row locks")
def test_a_second_delivery_that_loses_the_race_leaves_the_winners_run_running(celery_worker_process):
    run = RewardModelRunFactory(status=JobStatus.QUEUED)

    with transaction.atomic():
        RewardModelRun.objects.select_for_update().get(pk=run.pk)
        # The worker's delivery reads the run as queued, then waits for this lock to start it ...
        second_delivery = reward_run_train.delay(run.pk)
        wait_for(sessions_waiting_for_my_locks, timeout=120, message="the worker's delivery to wait for the row lock")
        # ... while the first delivery starts it.
        job_start(run, worker="first@gpu-box")
    second_delivery.get(timeout=120, propagate=False)
    ping.delay("after").get(timeout=120)  # the solo worker has run the task's failure hooks too

    run.refresh_from_db()
    assert (run.status, run.worker, run.attempt, run.error) == (JobStatus.RUNNING, "first@gpu-box", 1, "")


@pytest.fixture
def runs_of_a_dead_worker(transactional_db):
    """An SFT and a PPO run left running by a worker that died an hour ago (created before the worker starts)."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    sft = SFTRunFactory(status=JobStatus.RUNNING, worker="dead@gpu-box", heartbeat_at=an_hour_ago)
    ppo = PolicyRunFactory(status=JobStatus.RUNNING, worker="dead@gpu-box", heartbeat_at=an_hour_ago)
    return sft, ppo


def test_a_starting_worker_fails_the_sft_and_ppo_runs_of_a_dead_worker(runs_of_a_dead_worker, celery_worker_process):
    sft, ppo = runs_of_a_dead_worker

    statuses = (SFTRun.objects.get(pk=sft.pk).status, PolicyRun.objects.get(pk=ppo.pk).status)

    assert statuses == (JobStatus.FAILED, JobStatus.FAILED)


@pytest.fixture
def runs_silent_for_half_a_minute(transactional_db, celery_queue):
    """Runs that last beat 30 s ago (not yet stale): one recorded on the node name the test worker
    is about to start under (its previous process was killed), one on another, live, worker."""
    half_a_minute_ago = timezone.now() - timedelta(seconds=30)
    this_node = RewardModelRunFactory(status=JobStatus.RUNNING, worker=f"{celery_queue}@{socket.gethostname()}",
                                      heartbeat_at=half_a_minute_ago)
    other_node = SFTRunFactory(status=JobStatus.RUNNING, worker="w9@gpu-box", heartbeat_at=half_a_minute_ago)
    return this_node, other_node


def test_a_worker_restarted_under_its_name_fails_the_runs_its_killed_process_left(runs_silent_for_half_a_minute,
                                                                                 celery_worker_process):
    this_node, other_node = runs_silent_for_half_a_minute

    this_node.refresh_from_db()
    other_node.refresh_from_db()

    assert (this_node.status, other_node.status) == (JobStatus.FAILED, JobStatus.RUNNING)
