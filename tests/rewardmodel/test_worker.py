import os
import signal
import socket
import time
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from common.models import JobStatus
from rewardmodel.execution import reward_run_execute
from rewardmodel.models import RewardModelRun
from rewardmodel.services import reward_run_cancel, reward_run_create, reward_run_resume
from rewardmodel.tasks import reward_runs_reap_stale
from tests.conftest import wait_for
from tests.rewardmodel.conftest import fast_config, marker_dataset

pytestmark = pytest.mark.celery_worker


def status_of(run):
    return RewardModelRun.objects.values_list("status", flat=True).get(pk=run.pk)


def test_a_worker_trains_a_run_to_a_loadable_checkpoint(tiny_backbone, artifacts_dir, celery_queue, celery_worker_process):
    dataset, _ = marker_dataset(30)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=fast_config(num_train_epochs=2))

    wait_for(lambda: status_of(run) not in (JobStatus.QUEUED, JobStatus.RUNNING), message="the run to end")

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.progress == 1.0
    assert run.worker == f"{celery_queue}@{socket.gethostname()}"  # the Celery node, not just the host
    assert run.steps.count() == run.summary["steps"]
    model = AutoModelForSequenceClassification.from_pretrained(run.artifact_path)
    tokenizer = AutoTokenizer.from_pretrained(run.artifact_path)
    assert model(**tokenizer(["\n\nHuman: hi\n\nAssistant: the cat"], return_tensors="pt")).logits.shape == (1, 1)


def long_config():
    return fast_config(num_train_epochs=400, checkpoint_steps=3, learning_rate=1e-4)


def test_cancel_stops_a_running_run(tiny_backbone, artifacts_dir, celery_worker_process):
    dataset, _ = marker_dataset(16)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=long_config())
    wait_for(lambda: run.steps.count() >= 2, message="training steps")

    reward_run_cancel(run=run)

    wait_for(lambda: status_of(run) == JobStatus.CANCELLED, message="the run to stop")
    run.refresh_from_db()
    assert run.progress < 0.5
    assert not Path(run.artifact_path or "/nonexistent").exists()


def test_a_killed_worker_leaves_a_failed_run_that_resumes_from_its_checkpoint(tiny_backbone, artifacts_dir, celery_worker_process):
    dataset, _ = marker_dataset(16)
    config = long_config()
    config["train"]["num_train_epochs"] = 60
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=config)
    checkpoint = artifacts_dir / "reward-runs" / str(run.pk) / "checkpoints" / "last" / "trainer_state.pt"
    wait_for(lambda: checkpoint.exists() and run.steps.count() >= 7, message="a checkpoint")

    os.kill(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(timeout=30)
    killed_at = time.monotonic()
    assert status_of(run) == JobStatus.RUNNING  # nobody told the database: the reaper must

    def beat_runs_the_reaper():
        reward_runs_reap_stale.apply()
        return status_of(run) != JobStatus.RUNNING

    wait_for(beat_runs_the_reaper, timeout=300, interval=5, message="the reaper to notice the dead worker")
    print(f"the killed worker's run was marked failed {time.monotonic() - killed_at:.0f} s after the kill")
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "heartbeat" in run.error

    reward_run_resume(run=run, enqueue=False)
    run = reward_run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.attempt == 2
    assert run.summary["resumed_from_step"] >= 6
    assert run.steps.count() == run.summary["steps"]
