"""A GRPO policy run through the service, the execution the Celery task and `run_grpo --inline`
call, cancel and resume, the pages and the API; and the options refused before a run is created."""
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from transformers import AutoModelForCausalLM

from common.exceptions import ApplicationError
from common.models import JobStatus
from tests.training.factories import SFTRunFactory
from training.execute_grpo import grpo_run_execute
from training.models import PolicyRun, PolicySample, PolicyStep
from training.services import grpo_run_create, run_resume, task_set_import
from training.tasks import policy_run_task

pytestmark = pytest.mark.django_db
DEMO_TASKS = Path(__file__).resolve().parents[2] / "data" / "demo" / "arithmetic-tasks.jsonl"
TINY = {"steps": 2, "prompts_per_step": 2, "num_generations": 3, "max_new_tokens": 4, "max_prompt_tokens": 16,
        "learning_rate": 1e-3, "mixed_precision": "no", "sample_every": 1}


@pytest.fixture(scope="module")
def char_policy(tmp_path_factory):
    """A tiny GPT-2 with one token per character of the arithmetic tasks."""
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import char_tokenizer

    path = tmp_path_factory.mktemp("grpo-run") / "model"
    tok = char_tokenizer("0123456789+-*= <>", save_dir=path)
    tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, n_positions=64).save_pretrained(path)
    return str(path)


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


@pytest.fixture
def arith():
    """The demo's first 6 train and 4 held-out tasks as a task set."""
    records = [json.loads(line) for line in DEMO_TASKS.read_text().splitlines()]
    chosen = [r for r in records if r["split"] == "train"][:6] + [r for r in records if r["split"] == "held_out"][:4]
    return task_set_import(name="arith", lines=[json.dumps(r) for r in chosen])


@pytest.fixture
def arbiter_admin(client):
    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    return client


def test_a_grpo_run_succeeds_with_a_loadable_policy_metrics_per_function_and_samples_with_verdicts(
        artifacts, char_policy, arith):
    spec = [{"checker": "numeric"}, {"checker": "regex", "name": "digits", "pattern": r"\s*-?\d+", "weight": 0.5}]
    run = grpo_run_create(task_set=arith, base_model_path=char_policy, config={**TINY, "reward_spec": spec},
                          enqueue=False)

    run = grpo_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    model = AutoModelForCausalLM.from_pretrained(run.artifact_path)
    assert model.config.n_layer == 1
    steps = dict(PolicyStep.objects.filter(run=run).values_list("step", "metrics"))
    assert sorted(steps) == [0, 1, 2] and set(steps[0]) == {"eval_accuracy", "eval_reward"}
    assert {"reward", "rewards/numeric", "rewards/digits", "frac_reward_zero_std", "completions/mean_length", "entropy",
            "eval_accuracy"} <= set(steps[2])
    samples = PolicySample.objects.filter(run=run)
    assert samples.count() == 2 * 2 * 3  # sample_every 1: every completion of both steps
    for s in samples:
        assert set(s.details["rewards"]) == set(s.details["verdicts"]) == {"numeric", "digits"}
        assert s.score == pytest.approx(s.details["rewards"]["numeric"] + 0.5 * s.details["rewards"]["digits"])
    assert run.data_snapshot["n_train_tasks"] == 6 and run.data_snapshot["n_held_out_tasks"] == 4
    assert "history" not in run.summary and run.summary["steps_done"] == 2


def test_the_policy_task_runs_a_grpo_run_as_grpo(artifacts, char_policy, arith):
    run = grpo_run_create(task_set=arith, base_model_path=char_policy, config={**TINY, "steps": 1}, enqueue=False)

    status = policy_run_task.apply(args=[run.pk]).get()

    run.refresh_from_db()
    assert status == JobStatus.SUCCEEDED and run.kind == PolicyRun.Kind.GRPO
    assert run.summary["steps_done"] == 1


def test_a_cancelled_grpo_run_resumes_from_its_checkpoint(artifacts, char_policy, arith):
    run = grpo_run_create(task_set=arith, base_model_path=char_policy,
                          config={**TINY, "steps": 3, "eval_before": False}, enqueue=False)
    PolicyRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # a cancel that arrives while it runs

    status_after_cancel = grpo_run_execute(run=run).status
    resumed = grpo_run_execute(run=run_resume(run=run, enqueue=False))

    assert status_after_cancel == JobStatus.CANCELLED
    assert resumed.status == JobStatus.SUCCEEDED, resumed.error
    assert resumed.summary["resumed_from_step"] == 1 and resumed.summary["steps_done"] == 3
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2, 3]
    assert sorted(set(PolicySample.objects.filter(run=run).values_list("step", flat=True))) == [1, 2, 3]


def test_run_grpo_inline_from_a_base_model_prints_json(artifacts, char_policy, arith, capsys):
    call_command("run_grpo", "--tasks", "arith", "--base-model", char_policy, "--steps", "1", "--num-generations", "2",
                 "--config", json.dumps({k: v for k, v in TINY.items() if k != "steps"}), "--inline", "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == JobStatus.SUCCEEDED and out["summary"]["steps_done"] == 1
    run = PolicyRun.objects.get(pk=out["id"])
    assert run.kind == PolicyRun.Kind.GRPO and run.config["num_generations"] == 2
    AutoModelForCausalLM.from_pretrained(out["artifact_path"])


def test_run_grpo_names_a_missing_task_set(char_policy):
    with pytest.raises(CommandError, match="No task set named “nope”"):
        call_command("run_grpo", "--tasks", "nope", "--base-model", char_policy)


@pytest.mark.parametrize("config, message", [
    ({"num_generations": 1}, "num_generations must be at least 2"),
    ({"warp": 9}, "Unknown GRPO option\\(s\\): warp"),
    ({"sample_every": 0}, "sample_every must be at least 1"),
    ({"reward_spec": [{"checker": "bleu"}]}, "checker must be one of"),
    ({"reward_spec": [{"checker": "exact"}]}, "The exact term reads each task's reference, but the task set's tasks "
                                              "are checked by numeric"),
    ({"reward_spec": [{"checker": "regex", "pattern": ".*"}]}, "one reward term using it"),
    ({"reward_spec": [{"checker": "numeric"}, {"checker": "reward_model"}]}, "needs a reward-model run"),
    ({"max_new_tokens": 60}, "max_prompt_tokens \\+ max_new_tokens"),
])
def test_grpo_run_create_refuses_by_name_and_writes_nothing(char_policy, arith, config, message):
    with pytest.raises(ApplicationError, match=message):
        grpo_run_create(task_set=arith, base_model_path=char_policy, config={**TINY, **config}, enqueue=False)
    assert not PolicyRun.objects.exists()


def test_grpo_run_create_wants_one_start_model_and_a_finished_sft_run(char_policy, arith):
    with pytest.raises(ApplicationError, match="either an SFT run or a base model folder"):
        grpo_run_create(task_set=arith, config=TINY, enqueue=False)
    running = SFTRunFactory(status=JobStatus.RUNNING, artifact_path=char_policy)
    with pytest.raises(ApplicationError, match="only a succeeded run"):
        grpo_run_create(task_set=arith, sft_run=running, config=TINY, enqueue=False)


def test_grpo_run_create_refuses_a_task_set_without_train_tasks(char_policy):
    held_out_only = task_set_import(name="ho", lines=[json.dumps(
        {"prompt": "1 + 1 =", "reference": "2", "checker": "numeric", "split": "held_out"})])
    with pytest.raises(ApplicationError, match="has no train tasks"):
        grpo_run_create(task_set=held_out_only, base_model_path=char_policy, config=TINY, enqueue=False)


def test_the_grpo_form_explains_its_options_and_creates_a_queued_run(arbiter_admin, char_policy, arith,
                                                                       django_capture_on_commit_callbacks):
    page = arbiter_admin.get(reverse("training:grpo_create")).content.decode()
    assert "New GRPO run" in page and "Group size G" in page and "teaches nothing" in page
    form = {"task_set": arith.pk, "base_model_path": char_policy, "steps": 3, "prompts_per_step": 2,
            "num_generations": 4, "num_iterations": 1, "learning_rate": 1e-3, "loss_type": "dr_grpo", "beta": 0.0,
            "epsilon": 0.2, "max_new_tokens": 4, "max_prompt_tokens": 16, "temperature": 1.0, "eval_steps": 0, "save_every": 0,
            "sample_every": 5, "reward_spec": '[{"checker": "numeric"}]'}
    with django_capture_on_commit_callbacks() as callbacks:
        response = arbiter_admin.post(reverse("training:grpo_create"), form)
    assert response.status_code == 302, response.context["form"].errors
    run = PolicyRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("training:grpo_detail", args=[run.pk])
    assert run.config["loss_type"] == "dr_grpo" and run.config["reward_spec"] == [{"checker": "numeric"}]
    assert len(callbacks) == 1  # queued once the row is committed


def test_the_grpo_form_shows_why_a_run_is_refused(arbiter_admin, char_policy, arith):
    form = {"task_set": arith.pk, "base_model_path": char_policy, "steps": 3, "prompts_per_step": 2,
            "num_generations": 4, "num_iterations": 1, "learning_rate": 1e-3, "loss_type": "grpo", "beta": 0.0,
            "epsilon": 0.2, "max_new_tokens": 4, "max_prompt_tokens": 16, "temperature": 1.0, "eval_steps": 0, "save_every": 0,
            "sample_every": 5, "reward_spec": '[{"checker": "exact"}]'}
    page = arbiter_admin.post(reverse("training:grpo_create"), form).content.decode()
    assert "The exact term reads each task" in page and not PolicyRun.objects.exists()


def test_the_api_creates_a_grpo_run_and_names_a_bad_option(arbiter_admin, char_policy, arith,
                                                           django_capture_on_commit_callbacks):
    url = reverse("training-grpo-create")
    with django_capture_on_commit_callbacks():
        created = arbiter_admin.post(url, {"task_set": arith.pk, "base_model_path": char_policy,
                                           "config": {"steps": 2, "num_generations": 4, "max_prompt_tokens": 16, "max_new_tokens": 4}}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["kind"] == "grpo" and created.json()["task_set"] == arith.pk
    refused = arbiter_admin.post(url, {"task_set": arith.pk, "base_model_path": char_policy,
                                       "config": {"loss_type": "ppo"}}, content_type="application/json")
    assert refused.status_code == 400 and "loss_type" in json.dumps(refused.json())
    assert PolicyRun.objects.count() == 1


def test_the_run_page_charts_the_monitors_and_shows_samples_escaped_with_their_verdicts(
        arbiter_admin, artifacts, char_policy, arith):
    run = grpo_run_execute(run=grpo_run_create(task_set=arith, base_model_path=char_policy, config=TINY,
                                               enqueue=False))
    PolicySample.objects.filter(run=run).update(response="<script>alert(1)</script>")

    page = arbiter_admin.get(reverse("training:grpo_detail", args=[run.pk])).content.decode()

    for title in ("Reward: combined and per function", "zero reward variance", "Response length", "Entropy",
                  "Held-out task accuracy"):
        assert title in page, title
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    verdict = PolicySample.objects.filter(run=run).first().details["verdicts"]["numeric"]
    assert verdict.split(":")[0] in page
    runs = arbiter_admin.get(reverse("training:runs")).content.decode()
    assert reverse("training:grpo_create") in runs and "<td>arith</td>" in runs
    # the shared policy-run URL (the runs list links to it) leads to the GRPO page
    assert arbiter_admin.get(reverse("training:policy_detail", args=[run.pk])).url == reverse(
        "training:grpo_detail", args=[run.pk])


def test_kept_samples_go_to_labellers_as_best_against_worst_pairs(artifacts, char_policy, arith):
    from tests.factories import DatasetFactory
    from training.services import grpo_samples_send_to_annotation

    run = grpo_run_execute(run=grpo_run_create(task_set=arith, base_model_path=char_policy, config=TINY,
                                               enqueue=False))
    PolicySample.objects.filter(run=run, step=2).delete()
    first = PolicySample.objects.filter(run=run, step=1).order_by("id").first()
    group = PolicySample.objects.filter(run=run, step=1, prompt=first.prompt).order_by("id")
    for i, sample in enumerate(group):  # make the group's completions differ, one of them rewarded
        PolicySample.objects.filter(pk=sample.pk).update(response=f" {i}", score=1.0 if i == 1 else 0.0)
    dataset = DatasetFactory()

    pairs = grpo_samples_send_to_annotation(run=run, dataset=dataset, n_prompts=50, seed=0)

    texts = [{p.response_a.text, p.response_b.text} for p in pairs if p.prompt.messages[0]["content"] == first.prompt]
    assert texts == [{"1", "0"}] or texts == [{" 1", " 0"}]
    assert all(p.origin_run == f"grpo:{run.pk}" for p in pairs)
