"""Run settings sent to the API are checked by type before anything uses them."""
import pytest

from tests.factories import DatasetFactory, PromptFactory
from tests.training.factories import RewardModelRunFactory, SFTRunFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("config, named", [
    ({"train": "abc"}, "train"),
    ({"train": {"learning_rate": "abc"}}, "learning_rate"),
    ({"train": {"batch_size": 2.5}}, "batch_size"),
    ({"train": {"use_margin": "yes"}}, "use_margin"),
    ({"selection": {"eval_fraction": [1]}}, "eval_fraction"),
    ("abc", "config"),
])
def test_a_reward_run_config_of_the_wrong_type_is_a_400_naming_the_setting(admin_api, config, named):
    dataset = DatasetFactory()
    response = admin_api.post("/api/reward-runs/create/", {"dataset": dataset.name, "config": config}, format="json")
    assert response.status_code == 400 and named in str(response.json())


@pytest.mark.parametrize("config, named", [
    ({"learning_rate": "abc"}, "learning_rate"),
    ({"steps": True}, "steps"),
    ({"sample_every": "often"}, "sample_every"),
])
def test_a_policy_run_config_of_the_wrong_type_is_a_400_naming_the_setting(admin_api, config, named):
    sft = SFTRunFactory()
    PromptFactory(dataset=sft.dataset)
    reward = RewardModelRunFactory(dataset=sft.dataset)
    body = {"sft_run": sft.pk, "reward_run": reward.pk, "config": config}
    response = admin_api.post("/api/policy-runs/create/", body, format="json")
    assert response.status_code == 400 and named in str(response.json())


def test_an_sft_run_config_of_the_wrong_type_is_a_400_naming_the_setting(admin_api):
    dataset = DatasetFactory()
    body = {"dataset": dataset.pk, "config": {"steps": "many"}}
    response = admin_api.post("/api/sft-runs/create/", body, format="json")
    assert response.status_code == 400 and "steps" in str(response.json())


@pytest.mark.parametrize("url, field, length", [
    ("/api/sft-runs/create/", "name", 201), ("/api/sft-runs/create/", "base_model_path", 1025),
    ("/api/policy-runs/create/", "name", 201), ("/api/reward-runs/create/", "base_model_path", 1025),
    ("/api/policy-runs/dpo/create/", "name", 201), ("/api/policy-runs/dpo/create/", "base_model_path", 1025),
])
def test_run_texts_beyond_their_column_are_a_400_naming_the_field(admin_api, url, field, length):
    sft = SFTRunFactory()
    PromptFactory(dataset=sft.dataset)
    reward = RewardModelRunFactory(dataset=sft.dataset)
    body = {"dataset": sft.dataset.name if "reward" in url else sft.dataset.pk, "sft_run": sft.pk,
            "reward_run": reward.pk, field: "x" * length}
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 400 and field in response.json()
