"""Job state changes (common/jobs.py): attempts, liveness, cancel and resume of runs whose worker died."""
import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from common import jobs
from common.exceptions import ApplicationError
from common.jobs import job_fail, job_requeue, job_start, job_succeed
from common.models import JobStatus
from rewardmodel.models import RewardModelRun
from rewardmodel.services import reward_run_cancel, reward_runs_fail_stale
from tests.conftest import wait_for
from tests.factories import AdminLabellerFactory
from tests.training.factories import RewardModelRunFactory, SFTRunFactory
from training.models import SFTRun
from training.services import run_resume, runs_fail_stale

pytestmark = pytest.mark.django_db


def running_run(*, heartbeat_age: timedelta, **fields) -> RewardModelRun:
    return RewardModelRunFactory(status=JobStatus.RUNNING, worker="w1@gpu-box", attempt=1,
                                 heartbeat_at=timezone.now() - heartbeat_age, **fields)


def test_each_start_is_listed_and_started_at_keeps_the_first():
    run = RewardModelRunFactory(status=JobStatus.QUEUED)
    job_start(run, worker="w1@gpu-box")
    first_start = run.started_at
    job_fail(run, error="the worker died")
    job_requeue(run)

    job_start(run, worker="w2@other-box")

    run.refresh_from_db()
    assert run.started_at == first_start
    assert [(a["attempt"], a["worker"]) for a in run.attempts] == [(1, "w1@gpu-box"), (2, "w2@other-box")]
    assert run.attempts[0]["started_at"] == first_start.isoformat()


def test_the_reaper_fails_a_run_silent_for_a_minute():
    run = running_run(heartbeat_age=timedelta(seconds=60))

    assert reward_runs_fail_stale() == 1

    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "w1@gpu-box" in run.error


def test_the_reaper_leaves_a_run_that_beat_twenty_seconds_ago():
    run = running_run(heartbeat_age=timedelta(seconds=20))

    assert reward_runs_fail_stale() == 0
    assert RewardModelRun.objects.get(pk=run.pk).status == JobStatus.RUNNING


def test_the_reaper_marks_cancelled_a_dead_run_whose_cancel_was_asked():
    run = SFTRunFactory(status=JobStatus.RUNNING, worker="w1@gpu-box", cancel_requested=True,
                        heartbeat_at=timezone.now() - timedelta(minutes=5))

    assert runs_fail_stale() == 1

    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.finished_at is not None


def test_cancel_of_a_run_whose_worker_is_gone_marks_it_cancelled():
    run = running_run(heartbeat_age=timedelta(minutes=5))

    reward_run_cancel(run=run)

    assert run.status == JobStatus.CANCELLED and run.finished_at is not None


def test_cancel_of_a_run_with_a_live_worker_asks_the_worker_to_stop():
    run = running_run(heartbeat_age=timedelta(seconds=5))

    reward_run_cancel(run=run)

    assert run.status == JobStatus.RUNNING and run.cancel_requested


def test_resume_of_a_running_run_says_why_it_is_refused_and_what_to_do():
    run = SFTRunFactory(status=JobStatus.RUNNING, worker="w1@gpu-box", heartbeat_at=timezone.now())

    with pytest.raises(ApplicationError) as refused:
        run_resume(run=run, enqueue=False)

    assert "still running on w1@gpu-box" in refused.value.message and "Cancel" in refused.value.message


def test_resume_of_a_succeeded_run_says_there_is_nothing_to_resume():
    run = SFTRunFactory(status=JobStatus.SUCCEEDED)

    with pytest.raises(ApplicationError) as refused:
        run_resume(run=run, enqueue=False)

    assert "nothing to resume" in refused.value.message


def test_resume_of_a_running_run_whose_worker_is_gone_queues_it():
    run = SFTRunFactory(status=JobStatus.RUNNING, worker="w1@gpu-box",
                        heartbeat_at=timezone.now() - timedelta(minutes=5))

    run_resume(run=run, enqueue=False)

    assert SFTRun.objects.get(pk=run.pk).status == JobStatus.QUEUED


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("job-heartbeat")]


@pytest.mark.django_db(transaction=True)
def test_a_started_job_beats_from_a_background_thread_until_it_ends(monkeypatch):
    monkeypatch.setattr(jobs, "HEARTBEAT_EVERY", timedelta(seconds=0.1))
    run = RewardModelRunFactory(status=JobStatus.QUEUED)
    job_start(run, worker="w1@gpu-box")
    started_beat = run.heartbeat_at

    wait_for(lambda: RewardModelRun.objects.get(pk=run.pk).heartbeat_at > started_beat, timeout=60,
             message="a heartbeat the main thread did not send")
    job_succeed(run)

    wait_for(lambda: not heartbeat_threads(), timeout=60, message="the heartbeat thread to stop")


def resumed_twice(run):
    for worker in ("w1@gpu-box", "w2@other-box"):
        job_start(run, worker=worker)
        job_fail(run, error="the worker died")
        job_requeue(run)
    return run


@pytest.mark.parametrize("page", ["rewardmodel:detail", "training:sft_detail"])
def test_a_run_page_lists_each_start_of_the_run(client, page):
    client.force_login(AdminLabellerFactory().user)
    run = resumed_twice(RewardModelRunFactory(status=JobStatus.QUEUED) if page.startswith("reward")
                        else SFTRunFactory(status=JobStatus.QUEUED))

    html = client.get(reverse(page, args=[run.pk])).content.decode()

    assert "attempt 1 on w1@gpu-box" in html and "attempt 2 on w2@other-box" in html


def test_a_failure_hook_of_another_worker_leaves_a_running_job_alone():
    run = running_run(heartbeat_age=timedelta(seconds=5))

    job_fail(run, error="the second delivery crashed", running_on="w2@other-box")

    assert (run.status, run.error) == (JobStatus.RUNNING, "")
