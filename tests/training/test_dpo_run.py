"""A DPO policy run through the service, the execution the Celery task and `run_dpo --inline`
call, and the command; and the options refused before a run is created."""
import json

import pytest
from django.core.management import CommandError, call_command
from transformers import AutoModelForCausalLM

from common.exceptions import ApplicationError
from common.models import JobStatus
from tests.training.factories import SFTRunFactory, dataset_with_preferences
from training.execute import dpo_run_execute
from training.models import PolicyRun, PolicyStep
from training.services import dpo_run_create
from training.tasks import policy_run_task

pytestmark = pytest.mark.django_db
TINY = {"batch_size": 4, "max_length": 64, "max_response_tokens": 24, "learning_rate": 1e-3, "save_every": 0,
        "selection": {"eval_fraction": 0.2}}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def test_a_dpo_run_from_an_sft_run_succeeds_with_a_loadable_policy_and_trl_metrics(artifacts, dpo_base_model):
    dataset = dataset_with_preferences(10)
    sft = SFTRunFactory(dataset=dataset, artifact_path=dpo_base_model)
    run = dpo_run_create(dataset=dataset, sft_run=sft, config={**TINY, "steps": 3}, enqueue=False)

    run = dpo_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    AutoModelForCausalLM.from_pretrained(run.artifact_path)
    steps = list(PolicyStep.objects.filter(run=run).values_list("metrics", flat=True))
    assert len(steps) == 3
    assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
            "logps/rejected", "eval_rewards/accuracies"} <= set(steps[-1])
    run.refresh_from_db()
    assert run.data_snapshot["n_train_pairs"] == 8 and run.data_snapshot["n_eval_pairs"] == 2
    assert len(run.data_snapshot["judgement_ids_sha256"]) == 64


def test_the_policy_task_runs_a_dpo_run_as_dpo(artifacts, dpo_base_model):
    dataset = dataset_with_preferences(6)
    run = dpo_run_create(dataset=dataset, base_model_path=dpo_base_model,
                         config={**TINY, "steps": 2, "loss_type": "ipo", "precompute_ref": True}, enqueue=False)

    status = policy_run_task.apply(args=[run.pk]).get()

    run.refresh_from_db()
    assert status == JobStatus.SUCCEEDED and run.kind == PolicyRun.Kind.DPO
    assert run.summary["steps_done"] == 2


def test_run_dpo_inline_from_a_base_model(artifacts, dpo_base_model, capsys):
    dataset_with_preferences(6, name="dpo-demo")

    call_command("run_dpo", "--dataset", "dpo-demo", "--base-model", dpo_base_model, "--steps", "2", "--loss", "cdpo",
                 "--label-smoothing", "0.1", "--beta", "0.2", "--precompute-ref", "--config", json.dumps(TINY),
                 "--inline", "--json")

    out = json.loads(capsys.readouterr().out)
    run = PolicyRun.objects.get(pk=out["id"])
    assert out["status"] == JobStatus.SUCCEEDED
    assert run.config["loss_type"] == "cdpo" and run.config["beta"] == 0.2 and run.config["precompute_ref"] is True


def test_run_dpo_names_a_missing_dataset():
    with pytest.raises(CommandError, match="No dataset named “nope”"):
        call_command("run_dpo", "--dataset", "nope", "--base-model", "/nowhere")


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"loss_type": "cdpo"}}, "set selection aggregation to 'per_judgement'"),
    ({"config": {"beta": -1}}, "beta must be positive"),
    ({"config": {"temperature": 1.0}}, "Unknown DPO option.*temperature"),
    ({"config": {"selection": {"min_agreemnt": 0.5}}}, "Unknown selection option.*min_agreemnt"),
    ({"config": {"max_length": 512, "max_response_tokens": 24}}, "max_length asks for 512 tokens.*128 positions"),
    ({"config": {"max_length": 128, "max_response_tokens": 24, "selection": {"min_agreement": 0.9}}}, "The data selection is empty"),
    ({"base_model_path": "/nowhere"}, "not a Hugging Face model folder"),
])
def test_dpo_run_create_refuses_by_name(dpo_base_model, kwargs, message):
    dataset = dataset_with_preferences(4)
    kwargs = {"base_model_path": dpo_base_model, **kwargs}

    with pytest.raises(ApplicationError, match=message):
        dpo_run_create(dataset=dataset, enqueue=False, **kwargs)
    assert not PolicyRun.objects.exists()


def test_dpo_run_create_wants_one_start_model(dpo_base_model):
    dataset = dataset_with_preferences(4)
    sft = SFTRunFactory(dataset=dataset, artifact_path=dpo_base_model)

    with pytest.raises(ApplicationError, match="either an SFT run or a base model"):
        dpo_run_create(dataset=dataset, sft_run=sft, base_model_path=dpo_base_model, enqueue=False)


def test_the_run_page_of_a_dpo_run_from_a_base_model_charts_its_trl_metrics(client, dpo_base_model):
    from django.urls import reverse

    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=dataset_with_preferences(1), name="dpo-gamma",
                                   base_model_path=dpo_base_model, status=JobStatus.RUNNING)
    for step in (1, 2):
        PolicyStep.objects.create(run=run, step=step, metrics={
            "loss": 0.6, "rewards/chosen": 0.1 * step, "rewards/rejected": -0.1 * step, "rewards/margins": 0.2 * step,
            "rewards/accuracies": 0.75, "logps/chosen": -20.0, "logps/rejected": -25.0, "eval_rewards/accuracies": 0.5})

    page = client.get(reverse("training:policy_detail", args=[run.pk]))
    listing = client.get(reverse("training:runs")).content.decode()

    html = page.content.decode()
    assert page.status_code == 200
    assert "Implicit rewards" in html and "Held-out preference accuracy" in html
    assert "Reward-model score" not in html and "Reward-hacking monitors" in html  # DPO samples feed the monitors
    assert dpo_base_model in html
    assert "dpo-gamma" in listing


def test_sending_a_base_model_dpo_run_against_its_sft_model_is_refused_by_name(dpo_base_model):
    from training.services import policy_samples_send_to_annotation

    dataset = dataset_with_preferences(2)
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=dataset, base_model_path=dpo_base_model,
                                   status=JobStatus.SUCCEEDED, artifact_path=dpo_base_model)

    with pytest.raises(ApplicationError, match="has no SFT run to compare with"):
        policy_samples_send_to_annotation(run=run, dataset=dataset, mode="policy_vs_sft", n_prompts=1)


def test_the_dpo_form_starts_at_the_defaults_and_creates_a_queued_run(client, dpo_base_model,
                                                                      django_capture_on_commit_callbacks):
    from django.urls import reverse

    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)
    form = client.get(reverse("training:dpo_create")).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("training:dpo_create"), {
            "dataset": dataset.pk, "base_model_path": dpo_base_model, "loss_type": "ipo", "beta": 0.3, "steps": 5,
            "batch_size": 2, "learning_rate": 0.001, "max_length": 128, "max_response_tokens": 24,
            "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.25})

    run = PolicyRun.objects.get()
    assert 'name="beta" value="0.1"' in form and 'name="max_length" value="256"' in form
    assert response.status_code == 302 and response["Location"] == reverse("training:policy_detail", args=[run.pk])
    assert run.kind == PolicyRun.Kind.DPO and run.config["loss_type"] == "ipo" and run.config["beta"] == 0.3
    assert run.config["selection"] == {"aggregation": "majority", "min_agreement": 0.0, "eval_fraction": 0.25}
    assert "label_smoothing" not in run.config and len(callbacks) == 1


def test_the_dpo_form_shows_why_a_run_is_refused(client, dpo_base_model):
    from django.urls import reverse

    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)

    response = client.post(reverse("training:dpo_create"), {
        "dataset": dataset.pk, "loss_type": "sigmoid", "beta": 0.1, "steps": 5, "batch_size": 2,
        "learning_rate": 0.001, "max_length": 128, "max_response_tokens": 24, "aggregation": "majority",
        "min_agreement": 0, "eval_fraction": 0.1})

    assert response.status_code == 200 and "either an SFT run or a base model" in response.content.decode()
    assert not PolicyRun.objects.exists()


def test_a_cancelled_dpo_run_resumes_from_its_checkpoint_on_the_judgements_it_started_with(artifacts, dpo_base_model):
    from tests.factories import JudgementFactory
    from training.services import run_resume

    dataset = dataset_with_preferences(8)
    run = dpo_run_create(dataset=dataset, base_model_path=dpo_base_model, config={**TINY, "steps": 3}, enqueue=False)
    PolicyRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # a cancel that arrives while it runs

    status_after_cancel = dpo_run_execute(run=run).status
    first_hash = PolicyRun.objects.get(pk=run.pk).data_snapshot["judgement_ids_sha256"]
    JudgementFactory(pair=dataset.pairs.first(), choice="b")  # a vote cast after the run started
    resumed = dpo_run_execute(run=run_resume(run=run, enqueue=False))

    assert status_after_cancel == JobStatus.CANCELLED
    assert resumed.status == JobStatus.SUCCEEDED, resumed.error
    assert resumed.summary["resumed_from_step"] == 1 and resumed.summary["steps_done"] == 3
    assert resumed.data_snapshot["judgement_ids_sha256"] == first_hash
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3]


def test_the_api_creates_a_dpo_run_and_names_a_bad_option(client, dpo_base_model, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)
    url = reverse("training-dpo-create")

    with django_capture_on_commit_callbacks():
        created = client.post(url, {"dataset": dataset.pk, "base_model_path": dpo_base_model,
                                    "config": {**TINY, "loss_type": "ipo"}}, content_type="application/json")
    refused = client.post(url, {"dataset": dataset.pk, "base_model_path": dpo_base_model, "config": {"beta": 0}},
                          content_type="application/json")

    assert created.status_code == 201 and created.json()["kind"] == "dpo"
    assert PolicyRun.objects.get(pk=created.json()["id"]).config["loss_type"] == "ipo"
    assert refused.status_code == 400 and "beta must be positive" in refused.json()["detail"]
