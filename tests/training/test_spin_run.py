"""A SPIN policy run through the command (inline), the Celery task's dispatch, the API and the
run page; and the options refused before a run is created."""
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from transformers import AutoModelForCausalLM

from common.exceptions import ApplicationError
from common.models import JobStatus
from tests.factories import AdminLabellerFactory, DatasetFactory
from tests.training.factories import SFTRunFactory, dataset_with_preferences
from training.models import PolicyRun, PolicySample, PolicyStep
from training.services import spin_run_create
from training.tasks import policy_run_task

pytestmark = pytest.mark.django_db
TINY = {"batch_size": 4, "max_length": 64, "max_response_tokens": 24, "max_new_tokens": 12, "learning_rate": 1e-3,
        "mixed_precision": "no"}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def test_run_spin_inline_stores_each_iterations_samples_and_leaves_a_loadable_policy(artifacts, dpo_base_model, capsys):
    dataset_with_preferences(5, name="spin-demo")

    call_command("run_spin", "--dataset", "spin-demo", "--base-model", dpo_base_model, "--iterations", "2",
                 "--steps-per-iteration", "2", "--config", json.dumps(TINY), "--inline", "--json")

    out = json.loads(capsys.readouterr().out)
    run = PolicyRun.objects.get(pk=out["id"])
    assert out["status"] == JobStatus.SUCCEEDED, out["error"]
    assert run.kind == PolicyRun.Kind.SPIN and run.progress == 1.0
    AutoModelForCausalLM.from_pretrained(run.artifact_path)
    steps = dict(PolicyStep.objects.filter(run=run).values_list("step", "metrics"))
    assert sorted(steps) == [1, 2, 3, 4]
    assert [steps[s]["spin/iteration"] for s in (1, 2, 3, 4)] == [1, 1, 2, 2]
    samples = PolicySample.objects.filter(run=run)
    assert set(samples.values_list("iteration", "step")) == {(1, 0), (2, 2)}
    assert samples.filter(iteration=1).count() == samples.filter(iteration=2).count() == 5
    assert run.baseline["n"] == 5  # the start model's own responses: the monitors' baseline
    assert run.data_snapshot["n_demonstrations"] == 5


def test_the_policy_task_runs_a_spin_run_as_spin(artifacts, dpo_base_model):
    dataset = dataset_with_preferences(4)
    sft = SFTRunFactory(dataset=dataset, artifact_path=dpo_base_model)
    run = spin_run_create(dataset=dataset, sft_run=sft, config={**TINY, "iterations": 1, "steps_per_iteration": 1},
                          enqueue=False)

    status = policy_run_task.apply(args=[run.pk]).get()

    run.refresh_from_db()
    assert status == JobStatus.SUCCEEDED, run.error
    assert run.summary["iterations_done"] == 1 and PolicySample.objects.filter(run=run, iteration=1).count() == 4


def test_a_cancelled_spin_run_keeps_its_checkpoint_and_resumes_to_the_end(artifacts, dpo_base_model):
    from training.execute import spin_run_execute
    from training.services import run_resume

    dataset = dataset_with_preferences(4)
    run = spin_run_create(dataset=dataset, base_model_path=dpo_base_model,
                          config={**TINY, "iterations": 2, "steps_per_iteration": 2}, enqueue=False)
    PolicyRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # seen at the first heartbeat
    run.refresh_from_db()

    run = spin_run_execute(run=run)
    assert run.status == JobStatus.CANCELLED
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1]

    run_resume(run=run, enqueue=False)
    run.refresh_from_db()
    run = spin_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3, 4]
    assert PolicySample.objects.filter(run=run, iteration=1).count() == 4  # drawn again, not twice


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"iterations": 0}}, "iterations and steps_per_iteration must be at least 1"),
    ({"config": {"loss_type": "cdpo"}}, "loss_type must be sigmoid or ipo"),
    ({"config": {"selection": {}}}, "Unknown SPIN option.*selection"),
    ({"config": {"max_length": 512}}, "max_length asks for 512 tokens.*128 positions"),
    ({"base_model_path": "/nowhere"}, "not a Hugging Face model folder"),
])
def test_spin_run_create_refuses_by_name(dpo_base_model, kwargs, message):
    dataset = dataset_with_preferences(2)
    kwargs = {"base_model_path": dpo_base_model, **kwargs}

    with pytest.raises(ApplicationError, match=message):
        spin_run_create(dataset=dataset, enqueue=False, **kwargs)
    assert not PolicyRun.objects.exists()


def test_spin_run_create_wants_demonstrations(dpo_base_model):
    with pytest.raises(ApplicationError, match="no pair with a majority-preferred response"):
        spin_run_create(dataset=DatasetFactory(), base_model_path=dpo_base_model, config=TINY, enqueue=False)


def test_the_spin_api_queues_a_run(client, dpo_base_model, django_capture_on_commit_callbacks):
    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(2)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("training-spin-create"), {"dataset": dataset.pk, "base_model_path": dpo_base_model,
                                                                 "config": {**TINY, "iterations": 2}},
                               content_type="application/json")

    assert response.status_code == 201, response.content
    run = PolicyRun.objects.get(pk=response.json()["id"])
    assert run.kind == PolicyRun.Kind.SPIN and run.status == JobStatus.QUEUED and run.config == {**TINY, "iterations": 2}
    assert len(callbacks) == 1


def test_the_spin_form_creates_a_run_and_its_page_shows_the_samples_escaped(client, dpo_base_model):
    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(2)
    form = client.get(reverse("training:spin_create")).content.decode()
    assert "New SPIN run" in form and "Rounds of generate-then-train" in form

    response = client.post(reverse("training:spin_create"), {
        "dataset": dataset.pk, "base_model_path": dpo_base_model, "iterations": 2, "steps_per_iteration": 3,
        "prompts_per_iteration": 0, "loss_type": "sigmoid", "beta": 0.1, "batch_size": 4, "learning_rate": 1e-4,
        "max_new_tokens": 16, "temperature": 0.7, "max_length": 64, "max_response_tokens": 24,
    })

    run = PolicyRun.objects.get(kind=PolicyRun.Kind.SPIN)
    assert response.status_code == 302 and response.url == reverse("training:policy_detail", args=[run.pk])
    PolicySample.objects.create(run=run, step=0, iteration=1, prompt="Tell me", response="<script>x</script>", score=-3.5, kl=0)
    page = client.get(response.url).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "Iteration" in page and "previous iteration" in page and "Reward-model score" not in page
