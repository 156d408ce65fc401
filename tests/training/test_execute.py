"""A PPO run executed in-process: what it records on the run (steps, samples, baseline, warnings)."""
import pytest

from common.models import JobStatus
from tests.factories import DatasetFactory, PromptFactory
from tests.training import toy
from tests.training.factories import RewardModelRunFactory, SFTRunFactory
from training.execute import policy_run_execute
from training.models import MonitorWarning, PolicySample, PolicyStep
from training.services import policy_run_create

pytestmark = pytest.mark.django_db


def test_a_run_records_steps_samples_baseline_and_fires_the_kl_monitor(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    dataset = DatasetFactory()
    for i in range(8):
        PromptFactory(dataset=dataset, messages=[{"role": "user", "content": f"the cat sat on mat {i}"}])
    sft = SFTRunFactory(dataset=dataset, artifact_path=str(toy.save_policy(tmp_path / "sft")))
    reward = RewardModelRunFactory(dataset=dataset, artifact_path=str(toy.save_marker_reward_model(tmp_path / "rm")))
    run = policy_run_create(sft_run=sft, reward_run=reward, enqueue=False, config={
        "steps": 4, "batch_size": 8, "mini_batch_size": 4, "learning_rate": 1e-2, "max_new_tokens": 6, "max_prompt_tokens": 32,
        "temperature": 1.0, "sample_every": 2, "kl_limit": 0.01})

    run = policy_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert PolicyStep.objects.filter(run=run).count() == 4
    assert sorted(set(PolicySample.objects.filter(run=run).values_list("step", flat=True))) == [1, 2, 4]
    assert run.baseline["n"] == 8 and run.baseline["mean_length"] > 0
    warning = MonitorWarning.objects.get(run=run, kind="kl")
    assert warning.value > 0.01 and warning.threshold == 0.01
    assert warning.first_step <= warning.step <= 4
