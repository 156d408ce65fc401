"""A PPO run's prompt + new tokens are checked against the policy's positions, and its
reward_max_length against the reward model's, before the run exists: from the form, the API and
the command alike (the toy policy and reward model have 64 positions each)."""
import pytest
from django.core.management import CommandError, call_command

from common.exceptions import ApplicationError
from tests.factories import AdminLabellerFactory, PromptFactory
from tests.training.factories import RewardModelRunFactory, SFTRunFactory
from training.forms import PolicyRunForm
from training.models import PolicyRun
from training.services import policy_run_create

pytestmark = pytest.mark.django_db
POLICY_TOO_SHORT = (r"max_prompt_tokens \+ max_new_tokens \(64 \+ 8\) asks for 72 tokens, but the policy of SFT run \d+ "
                    r"has only 64 positions")


@pytest.fixture
def runs(toy_models):
    root, _ = toy_models
    sft_path, rm_path = root / "sft", root / "rm"
    sft = SFTRunFactory(artifact_path=str(sft_path))
    PromptFactory(dataset=sft.dataset)
    reward = RewardModelRunFactory(dataset=sft.dataset, artifact_path=str(rm_path), config={"train": {"max_length": 48}})
    return sft, reward


def test_prompt_plus_new_tokens_beyond_the_policy_is_refused(runs):
    sft, reward = runs

    with pytest.raises(ApplicationError, match=POLICY_TOO_SHORT):
        policy_run_create(sft_run=sft, reward_run=reward, config={"max_prompt_tokens": 64, "max_new_tokens": 8},
                          enqueue=False)
    assert not PolicyRun.objects.exists()


def test_reward_max_length_beyond_the_reward_model_is_refused(runs):
    sft, reward = runs

    with pytest.raises(ApplicationError, match=rf"reward_max_length asks for 128 tokens, but reward-model run {reward.pk} "
                                               "has only 64 positions"):
        policy_run_create(sft_run=sft, reward_run=reward,
                          config={"max_prompt_tokens": 16, "max_new_tokens": 8, "reward_max_length": 128}, enqueue=False)


def test_a_reward_run_trained_longer_than_its_model_is_refused(runs):
    sft, reward = runs
    reward.config = {"train": {"max_length": 256}}
    reward.save()

    with pytest.raises(ApplicationError, match="reward_max_length asks for 256 tokens"):
        policy_run_create(sft_run=sft, reward_run=reward, config={"max_prompt_tokens": 16, "max_new_tokens": 8},
                          enqueue=False)


def test_settings_within_the_limits_are_accepted(runs):
    sft, reward = runs

    run = policy_run_create(sft_run=sft, reward_run=reward, config={"max_prompt_tokens": 56, "max_new_tokens": 8},
                            enqueue=False)

    assert run.config == {"max_prompt_tokens": 56, "max_new_tokens": 8}


def test_the_form_shows_the_limit(client, runs):
    sft, reward = runs
    client.force_login(AdminLabellerFactory().user)
    form = PolicyRunForm()
    data = {name: form.fields[name].initial for name in PolicyRunForm.CONFIG_FIELDS}
    data.update(sft_run=sft.pk, reward_run=reward.pk, adap_kl_ctrl="on", max_new_tokens=8)

    page = client.post("/policy-runs/ppo/new/", data)

    assert page.status_code == 200
    assert "asks for 72 tokens" in page.content.decode() and "has only 64 positions" in page.content.decode()
    assert not PolicyRun.objects.exists()


def test_the_api_answers_400_naming_the_setting_and_the_limit(client, runs):
    sft, reward = runs
    client.force_login(AdminLabellerFactory().user)

    refused = client.post("/api/policy-runs/create/", {"sft_run": sft.pk, "reward_run": reward.pk,
                                                       "config": {"max_new_tokens": 8}}, content_type="application/json")

    assert refused.status_code == 400 and "max_prompt_tokens + max_new_tokens (64 + 8)" in refused.json()["detail"]


def test_the_command_fails_naming_the_setting_and_the_limit(runs):
    sft, reward = runs

    with pytest.raises(CommandError, match=POLICY_TOO_SHORT):
        call_command("run_ppo", "--reward-run", str(reward.pk), "--sft-run", str(sft.pk), "--max-new-tokens", "8")


def test_an_sft_max_length_beyond_the_base_model_is_refused(toy_models):
    from tests.training.factories import dataset_with_preferences
    from training.models import SFTRun
    from training.services import sft_run_create

    sft_path = toy_models[0] / "sft"

    with pytest.raises(ApplicationError, match=r"max_length asks for 128 tokens, but the base model .* has only 64 positions"):
        sft_run_create(dataset=dataset_with_preferences(1), base_model_path=str(sft_path), config={"max_length": 128, "max_response_tokens": 32},
                       enqueue=False)
    assert not SFTRun.objects.exists()


def test_ppo_run_outside_django_stops_before_loading_naming_the_limit(toy_models, tmp_path):
    from training.ppo import PPOConfig
    from training.runner import ppo_run

    root, prompts = toy_models

    with pytest.raises(ValueError, match=r"max_prompt_tokens \+ max_new_tokens \(64 \+ 8\) asks for 72 tokens, "
                                         r"but the policy in .* has only 64 positions"):
        ppo_run(PPOConfig(max_prompt_tokens=64, max_new_tokens=8), sft_path=root / "sft", reward_path=root / "rm",
                prompts=prompts, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
