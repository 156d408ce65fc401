import json

import pytest
from django.core.management import CommandError, call_command
from transformers import AutoModelForCausalLM

from common.models import JobStatus
from tests.training.factories import RewardModelRunFactory, SFTRunFactory, dataset_with_preferences, save_reward_model
from training.models import PolicyRun, PolicyStep

pytestmark = pytest.mark.django_db


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def test_run_sft_inline_from_scratch_then_run_ppo_inline(artifacts, capsys):
    dataset = dataset_with_preferences(6, name="cmd-demo")
    config = json.dumps({"vocab_size": 300, "n_layer": 1, "n_embd": 32, "n_head": 2, "max_length": 96,
                         "max_response_tokens": 32})

    call_command("run_sft", "--dataset", "cmd-demo", "--from-scratch", "--steps", "3", "--batch-size", "2",
                 "--config", config, "--inline", "--json")
    sft = json.loads(capsys.readouterr().out)
    assert sft["status"] == JobStatus.SUCCEEDED
    AutoModelForCausalLM.from_pretrained(sft["artifact_path"])

    reward = RewardModelRunFactory(dataset=dataset, artifact_path=str(save_reward_model(artifacts / "rm")))
    call_command("run_ppo", "--reward-run", str(reward.pk), "--sft-run", str(sft["id"]), "--steps", "2",
                 "--batch-size", "2", "--mini-batch-size", "1", "--max-new-tokens", "4", "--inline", "--json")
    ppo = json.loads(capsys.readouterr().out)
    assert ppo["status"] == JobStatus.SUCCEEDED
    assert PolicyStep.objects.filter(run_id=ppo["id"]).count() == 2


def test_run_ppo_names_what_is_missing():
    with pytest.raises(CommandError, match="No SFT run with id 999"):
        call_command("run_ppo", "--reward-run", str(RewardModelRunFactory().pk), "--sft-run", "999")


def test_run_ppo_inline_failure_leaves_the_run_failed_with_the_reason(artifacts):
    sft = SFTRunFactory(artifact_path=str(artifacts / "missing"))
    dataset_prompts = dataset_with_preferences(1)
    reward = RewardModelRunFactory(dataset=dataset_prompts)

    with pytest.raises(CommandError, match="no finished model"):
        call_command("run_ppo", "--reward-run", str(reward.pk), "--sft-run", str(sft.pk), "--inline")
    run = PolicyRun.objects.get()
    assert run.status == JobStatus.FAILED and "no finished model" in run.error
