"""A KTO policy run through the service, the execution the Celery task and `run_kto --inline`
call, the form, the API and the run page; and the options refused before a run is created."""
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from transformers import AutoModelForCausalLM

from common.exceptions import ApplicationError
from common.models import JobStatus
from tests.factories import AdminLabellerFactory
from tests.training.factories import SFTRunFactory, dataset_with_preferences
from training.execute import kto_run_execute
from training.models import PolicyRun, PolicyStep
from training.services import kto_run_create
from training.tasks import policy_run_task

pytestmark = pytest.mark.django_db
TINY = {"batch_size": 4, "max_length": 64, "max_response_tokens": 24, "learning_rate": 1e-3, "save_every": 0,
        "selection": {"eval_fraction": 0.2}}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def test_a_kto_run_from_an_sft_run_succeeds_with_a_loadable_policy_and_records_its_class_weights(artifacts,
                                                                                                 dpo_base_model):
    dataset = dataset_with_preferences(10)
    sft = SFTRunFactory(dataset=dataset, artifact_path=dpo_base_model)
    run = kto_run_create(dataset=dataset, sft_run=sft, config={**TINY, "steps": 3}, enqueue=False)

    run = kto_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    AutoModelForCausalLM.from_pretrained(run.artifact_path)
    steps = list(PolicyStep.objects.filter(run=run).order_by("step").values_list("metrics", flat=True))
    assert len(steps) == 3
    assert {"loss", "kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected",
            "eval_rewards/accuracies"} <= set(steps[-1])
    run.refresh_from_db()
    snapshot = run.data_snapshot
    assert snapshot["source"] == "comparisons" and snapshot["n_train_pairs"] == 8
    assert snapshot["n_desirable"] == snapshot["n_undesirable"] == 8 and snapshot["n_eval_pairs"] == 2
    assert (snapshot["desirable_weight"], snapshot["undesirable_weight"]) == (1.0, 1.0)


def test_the_policy_task_runs_a_kto_run_as_kto(artifacts, dpo_base_model):
    dataset = dataset_with_preferences(6)
    run = kto_run_create(dataset=dataset, base_model_path=dpo_base_model,
                         config={**TINY, "steps": 2, "precompute_ref": True, "desirable_weight": 2.0}, enqueue=False)

    status = policy_run_task.apply(args=[run.pk]).get()

    run.refresh_from_db()
    assert status == JobStatus.SUCCEEDED and run.kind == PolicyRun.Kind.KTO
    assert run.summary["steps_done"] == 2 and run.summary["desirable_weight"] == 2.0
    assert run.summary["undesirable_weight"] == pytest.approx(1.5)  # 2 x n / (4/3 x n): the ratio brought to 4/3


def test_run_kto_inline_from_a_base_model_end_to_end(artifacts, dpo_base_model, capsys):
    dataset_with_preferences(6, name="kto-demo")

    call_command("run_kto", "--dataset", "kto-demo", "--base-model", dpo_base_model, "--steps", "2", "--beta", "0.2",
                 "--undesirable-weight", "1.2", "--precompute-ref", "--config", json.dumps(TINY), "--inline", "--json")

    out = json.loads(capsys.readouterr().out)
    run = PolicyRun.objects.get(pk=out["id"])
    assert out["status"] == JobStatus.SUCCEEDED and run.kind == PolicyRun.Kind.KTO
    assert run.config["beta"] == 0.2 and run.config["undesirable_weight"] == 1.2 and run.config["precompute_ref"] is True
    AutoModelForCausalLM.from_pretrained(out["artifact_path"])


def test_run_kto_names_a_missing_dataset():
    with pytest.raises(CommandError, match="No dataset named “nope”"):
        call_command("run_kto", "--dataset", "nope", "--base-model", "/nowhere")


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"beta": -1}}, "beta must be positive"),
    ({"config": {"batch_size": 1}}, "batch_size must be at least 2"),
    ({"config": {"loss_type": "sigmoid"}}, "Unknown KTO option.*loss_type"),
    ({"config": {"source": "thumbs"}}, "source must be one of comparisons, ratings"),
    ({"config": {"source": "ratings", "selection": {"min_agreement": 0.5}}}, "selection options are for source 'comparisons'"),
    ({"config": {"selection": {"min_agreemnt": 0.5}}}, "Unknown selection option.*min_agreemnt"),
    ({"config": {"max_length": 512, "max_response_tokens": 24}}, "max_length asks for 512 tokens.*128 positions"),
    ({"config": {"max_length": 128, "max_response_tokens": 24, "selection": {"min_agreement": 0.9}}}, "The data selection is empty"),
    ({"base_model_path": "/nowhere"}, "not a Hugging Face model folder"),
])
def test_kto_run_create_refuses_by_name(dpo_base_model, kwargs, message):
    dataset = dataset_with_preferences(4)
    kwargs = {"base_model_path": dpo_base_model, **kwargs}

    with pytest.raises(ApplicationError, match=message):
        kto_run_create(dataset=dataset, enqueue=False, **kwargs)
    assert not PolicyRun.objects.exists()


def test_kto_run_create_wants_one_start_model(dpo_base_model):
    dataset = dataset_with_preferences(4)
    sft = SFTRunFactory(dataset=dataset, artifact_path=dpo_base_model)

    with pytest.raises(ApplicationError, match="either an SFT run or a base model"):
        kto_run_create(dataset=dataset, sft_run=sft, base_model_path=dpo_base_model, enqueue=False)


def test_a_cancelled_kto_run_resumes_from_its_checkpoint_on_the_judgements_it_started_with(artifacts, dpo_base_model):
    from tests.factories import JudgementFactory
    from training.services import run_resume

    dataset = dataset_with_preferences(8)
    run = kto_run_create(dataset=dataset, base_model_path=dpo_base_model, config={**TINY, "steps": 3}, enqueue=False)
    PolicyRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # a cancel that arrives while it runs

    status_after_cancel = kto_run_execute(run=run).status
    first_hash = PolicyRun.objects.get(pk=run.pk).data_snapshot["judgement_ids_sha256"]
    JudgementFactory(pair=dataset.pairs.first(), choice="b")  # a vote cast after the run started
    resumed = kto_run_execute(run=run_resume(run=run, enqueue=False))

    assert status_after_cancel == JobStatus.CANCELLED
    assert resumed.status == JobStatus.SUCCEEDED, resumed.error
    assert resumed.summary["resumed_from_step"] == 1 and resumed.summary["steps_done"] == 3
    assert resumed.data_snapshot["judgement_ids_sha256"] == first_hash
    assert list(PolicyStep.objects.filter(run=run).order_by("step").values_list("step", flat=True)) == [1, 2, 3]


def test_the_kto_form_starts_at_the_defaults_and_creates_a_queued_run(client, dpo_base_model,
                                                                      django_capture_on_commit_callbacks):
    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)
    form = client.get(reverse("training:kto_create")).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("training:kto_create"), {
            "dataset": dataset.pk, "source": "comparisons", "base_model_path": dpo_base_model, "beta": 0.3, "steps": 5,
            "batch_size": 4, "learning_rate": 0.001, "lr_schedule": "linear", "max_length": 128,
            "max_response_tokens": 24, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.25})

    run = PolicyRun.objects.get()
    assert 'name="beta" value="0.1"' in form and 'name="batch_size" value="16"' in form and "4/3" in form
    assert response.status_code == 302 and response["Location"] == reverse("training:policy_detail", args=[run.pk])
    assert run.kind == PolicyRun.Kind.KTO and run.config["beta"] == 0.3 and run.config["source"] == "comparisons"
    assert run.config["lr_schedule"] == "linear"
    assert run.config["selection"] == {"aggregation": "majority", "min_agreement": 0.0, "eval_fraction": 0.25}
    assert "desirable_weight" not in run.config and len(callbacks) == 1


def test_the_kto_form_refuses_a_batch_of_one_by_name(client, dpo_base_model):
    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)

    response = client.post(reverse("training:kto_create"), {
        "dataset": dataset.pk, "source": "comparisons", "base_model_path": dpo_base_model, "beta": 0.1, "steps": 5,
        "batch_size": 1, "learning_rate": 0.001, "lr_schedule": "constant", "max_length": 128,
        "max_response_tokens": 24, "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.1})

    assert response.status_code == 200 and "greater than or equal to 2" in response.content.decode()
    assert not PolicyRun.objects.exists()


def test_the_api_creates_a_kto_run_and_names_a_bad_option(client, dpo_base_model, django_capture_on_commit_callbacks):
    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4)
    url = reverse("training-kto-create")

    with django_capture_on_commit_callbacks():
        created = client.post(url, {"dataset": dataset.pk, "base_model_path": dpo_base_model,
                                    "config": {**TINY, "desirable_weight": 1.5}}, content_type="application/json")
    refused = client.post(url, {"dataset": dataset.pk, "base_model_path": dpo_base_model, "config": {"beta": 0}},
                          content_type="application/json")

    assert created.status_code == 201 and created.json()["kind"] == "kto"
    assert PolicyRun.objects.get(pk=created.json()["id"]).config["desirable_weight"] == 1.5
    assert refused.status_code == 400 and "beta must be positive" in refused.json()["detail"]


def test_the_run_page_of_a_kto_run_charts_its_trl_metrics_and_class_weights(client, dpo_base_model):
    client.force_login(AdminLabellerFactory().user)
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.KTO, dataset=dataset_with_preferences(1), name="kto-delta",
                                   base_model_path=dpo_base_model, status=JobStatus.RUNNING, data_snapshot={
                                       "source": "comparisons", "n_train_completions": 30, "n_desirable": 10,
                                       "n_undesirable": 20, "desirable_weight": 2.0, "undesirable_weight": 1.0,
                                       "n_eval_pairs": 3})
    for step in (1, 2):
        PolicyStep.objects.create(run=run, step=step, metrics={
            "loss": 0.5, "kl": 0.01 * step, "rewards/chosen": 0.1 * step, "rewards/rejected": -0.1 * step,
            "rewards/margins": 0.2 * step, "logps/chosen": -20.0, "logps/rejected": -25.0})

    page = client.get(reverse("training:policy_detail", args=[run.pk]))
    listing = client.get(reverse("training:runs")).content.decode()

    html = page.content.decode()
    assert page.status_code == 200
    assert "KL reference point z0" in html and "10 desirable, 20 undesirable" in html and "2.000" in html
    assert "Reward-model score" not in html and "Reward-hacking monitors" in html  # on its samples, as DPO
    assert "kto-delta" in listing and reverse("training:kto_create") in listing


def test_a_kto_run_page_shows_its_options_grouped_kto_then_data_selection(admin_client):
    from tests.factories import DatasetFactory

    run = PolicyRun.objects.create(kind=PolicyRun.Kind.KTO, dataset=DatasetFactory(), base_model_path="/models/base",
                                   config={"beta": 0.3, "source": "comparisons", "selection": {"min_agreement": 0.6}})

    response = admin_client.get(reverse("training:policy_detail", args=[run.pk]))

    assert response.context["options"] == [("KTO", [("beta", 0.3), ("source", "comparisons")]),
                                           ("Data selection", [("min_agreement", 0.6)])]
