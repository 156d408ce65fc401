"""A real Celery worker process runs SFT then PPO; cancel; a killed worker."""
from datetime import timedelta

import pytest
from transformers import AutoModelForCausalLM

from common.models import JobStatus
from tests.conftest import wait_for
from tests.training.factories import (
    TOPICS,
    RewardModelRunFactory,
    SFTRunFactory,
    dataset_with_preferences,
    save_reward_model,
)
from training.execute import policy_run_execute, run_dir
from training.models import PolicyRun, PolicySample, PolicyStep, SFTRun
from training.runner import checkpoint_step
from training.services import policy_run_create, run_cancel, run_resume, runs_fail_stale, sft_run_create

SFT_TINY = {"steps": 6, "batch_size": 4, "vocab_size": 300, "n_layer": 1, "n_embd": 32, "n_head": 2,
            "max_length": 96, "max_response_tokens": 32, "save_every": 3, "learning_rate": 1e-3}
PPO_TINY = {"steps": 4, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 2, "max_new_tokens": 8,
            "max_prompt_tokens": 32, "save_every": 2, "sample_every": 2, "learning_rate": 1e-4}
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@pytest.fixture
def artifacts(tmp_path, settings, monkeypatch):
    """Artifacts of this test only; set before the worker starts so that it inherits them."""
    monkeypatch.setenv("ARBITER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def ended(model, pk):
    run = model.objects.get(pk=pk)
    return run if run.status in ENDED else None


@pytest.fixture(scope="module")
def sft_folder(tmp_path_factory):
    """An SFT model trained in-process once, for the tests that are about PPO runs."""
    from training.sft import SFTConfig, sft_train
    from training.text import render_prompt, render_response

    examples = [(render_prompt([{"role": "user", "content": f"Tell me about {t}."}]), render_response(f"{t} is nice."))
                for t in TOPICS]
    out = tmp_path_factory.mktemp("sft")
    return sft_train(SFTConfig(**{**SFT_TINY, "save_every": 0}), examples, out)["model_path"]


def finished_sft_and_reward(tmp_path, dataset, sft_folder):
    sft = SFTRunFactory(dataset=dataset, artifact_path=sft_folder)
    reward = RewardModelRunFactory(dataset=dataset, artifact_path=str(save_reward_model(tmp_path / "rm")))
    return sft, reward


@pytest.mark.celery_worker
def test_a_worker_runs_sft_then_ppo_and_both_leave_checkpoints_transformers_loads(artifacts, celery_worker_process):
    dataset = dataset_with_preferences(10)

    sft = sft_run_create(dataset=dataset, config=SFT_TINY)
    sft = wait_for(lambda: ended(SFTRun, sft.pk), timeout=300, message="the SFT run to end")
    reward = RewardModelRunFactory(dataset=dataset, artifact_path=str(save_reward_model(artifacts / "rm")))
    assert sft.status == JobStatus.SUCCEEDED, sft.error
    assert [s for s, _ in sft.losses] == list(range(1, 7))
    AutoModelForCausalLM.from_pretrained(sft.artifact_path)

    run = policy_run_create(sft_run=sft, reward_run=reward, config=PPO_TINY)
    run = wait_for(lambda: ended(PolicyRun, run.pk), timeout=300, message="the PPO run to end")

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.progress == 1.0
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3, 4]
    assert set(PolicySample.objects.filter(run=run).values_list("step", flat=True)) == {1, 2, 4}
    assert run.baseline["n"] == 4
    AutoModelForCausalLM.from_pretrained(run.artifact_path)


@pytest.mark.celery_worker
def test_cancel_stops_a_running_ppo_run_at_its_next_step(artifacts, sft_folder, celery_worker_process):
    dataset = dataset_with_preferences(6)
    sft, reward = finished_sft_and_reward(artifacts, dataset, sft_folder)
    run = policy_run_create(sft_run=sft, reward_run=reward, config={**PPO_TINY, "steps": 100000})
    wait_for(lambda: PolicyStep.objects.filter(run=run).exists(), timeout=300, message="a first PPO step")

    run_cancel(run=PolicyRun.objects.get(pk=run.pk))
    run = wait_for(lambda: ended(PolicyRun, run.pk), timeout=120, message="the run to stop")

    assert run.status == JobStatus.CANCELLED
    assert PolicyStep.objects.filter(run=run).count() < 100000
    assert checkpoint_step(run_dir(run)) == PolicyStep.objects.filter(run=run).count()  # saved where it stopped


@pytest.mark.celery_worker
def test_a_killed_worker_leaves_the_run_failed_and_resumable_from_its_checkpoint(artifacts, sft_folder,
                                                                                   celery_worker_process):
    dataset = dataset_with_preferences(6)
    sft, reward = finished_sft_and_reward(artifacts, dataset, sft_folder)
    run = policy_run_create(sft_run=sft, reward_run=reward, config={**PPO_TINY, "steps": 400, "save_every": 1})
    wait_for(lambda: checkpoint_step(run_dir(run)) >= 2, timeout=300, message="a second checkpoint")

    celery_worker_process.kill()
    celery_worker_process.wait()
    assert PolicyRun.objects.get(pk=run.pk).status == JobStatus.RUNNING  # nobody told the database
    assert runs_fail_stale(older_than=timedelta(0)) == 1
    run = PolicyRun.objects.get(pk=run.pk)
    assert run.status == JobStatus.FAILED and "heartbeat" in run.error

    done = checkpoint_step(run_dir(run))
    run.config = {**run.config, "steps": done + 2}  # resume, but finish soon
    run.save(update_fields=["config"])
    run = policy_run_execute(run=run_resume(run=run, enqueue=False))

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.summary["resumed_from_step"] == done
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == list(range(1, done + 3))
