"""A reward run's max_length is checked against its backbone's positions before the run exists,
from the form, the API and the command alike (the tiny backbone has 128 positions)."""
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from common.exceptions import ApplicationError
from rewardmodel.models import RewardModelRun
from rewardmodel.services import reward_run_create
from tests.factories import AdminLabellerFactory
from tests.rewardmodel.conftest import marker_dataset

pytestmark = pytest.mark.django_db
TOO_LONG = "max_length asks for 256 tokens, but the backbone .* has only 128 positions: at most 128 tokens fit"


def test_the_service_refuses_a_max_length_beyond_the_backbone_and_writes_nothing(tiny_backbone):
    dataset, _ = marker_dataset(2)

    with pytest.raises(ApplicationError, match=TOO_LONG):
        reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config={"train": {"max_length": 256}},
                          enqueue=False)
    assert not RewardModelRun.objects.exists()


def test_the_form_shows_the_limit(client, tiny_backbone):
    client.force_login(AdminLabellerFactory().user)
    dataset, _ = marker_dataset(2)

    page = client.post("/reward-models/new/", {
        "dataset": dataset.pk, "base_model_path": tiny_backbone, "num_train_epochs": 1, "learning_rate": 1e-4,
        "batch_size": 4, "max_length": 256, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.1,
        "loss_type": "bradley_terry",
    })

    assert page.status_code == 200
    assert "has only 128 positions" in page.content.decode()
    assert not RewardModelRun.objects.exists()


def test_the_api_answers_400_naming_the_setting_and_the_limit(tiny_backbone):
    dataset, _ = marker_dataset(2)
    api = APIClient()
    api.force_authenticate(AdminLabellerFactory().user)

    refused = api.post("/api/reward-runs/create/", {"dataset": dataset.name, "base_model_path": tiny_backbone,
                                                    "config": {"train": {"max_length": 256}}}, format="json")

    assert refused.status_code == 400
    assert "max_length asks for 256 tokens" in refused.json()["detail"] and "128 positions" in refused.json()["detail"]


def test_the_command_fails_naming_the_setting_and_the_limit(tiny_backbone):
    dataset, _ = marker_dataset(2)

    with pytest.raises(CommandError, match=TOO_LONG):
        call_command("train_reward_model", "--dataset", dataset.name, "--base-model", tiny_backbone,
                     "--max-length", "256", "--inline")


def test_the_accelerate_launcher_stops_before_training_naming_the_limit(tiny_backbone, tmp_path):
    from rewardmodel.launch import main as launch_main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "Question?", "chosen": "yes", "rejected": "no"}\n')

    with pytest.raises(SystemExit, match=TOO_LONG):
        launch_main(["--base-model", tiny_backbone, "--pairs", str(pairs), "--output", str(tmp_path / "out"),
                     "--config", '{"max_length": 256}'])
    assert not (tmp_path / "out").exists()
