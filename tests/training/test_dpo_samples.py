"""What a DPO or KTO run records beside its metrics: samples drawn every K steps (implicit reward and
log-ratio), shown escaped on the run page, the reward-hacking monitors on them, accuracy on held-out
gold pairs (DPO); and sending a finished DPO or KTO policy's samples to labellers from its page."""
import pytest
from django.urls import reverse
from django.utils.html import escape

from annotation.models import Pair
from common.models import JobStatus
from tests.factories import AdminLabellerFactory, DatasetFactory, PairFactory, PromptFactory, ResponseFactory
from tests.training.factories import SFTRunFactory, dataset_with_preferences
from training.execute import _SampleRecorder, RUN_OPTIONS, dpo_run_execute, kto_run_execute
from training.models import MonitorWarning, PolicyRun, PolicySample, PolicyStep
from training.services import dpo_run_create, kto_run_create, policy_samples_send_to_annotation

pytestmark = pytest.mark.django_db
TINY = {"batch_size": 4, "max_length": 64, "max_response_tokens": 24, "learning_rate": 1e-3, "save_every": 0,
        "mixed_precision": "no", "selection": {"eval_fraction": 0.2}}


# Each kind's create service and execution (what its Celery task runs).
KINDS = {"dpo": (dpo_run_create, dpo_run_execute), "kto": (kto_run_create, kto_run_execute)}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_a_run_samples_every_k_steps_with_implicit_rewards_shown_escaped_on_its_page(artifacts, dpo_base_model,
                                                                                     client, kind):
    create, execute = KINDS[kind]
    run = create(dataset=dataset_with_preferences(10), base_model_path=dpo_base_model, enqueue=False, config={
        **TINY, "steps": 3, "beta": 0.2, "learning_rate": 1e-2, "sample_every": 2, "sample_prompts": 3,
        "sample_max_new_tokens": 8})

    run = execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    samples = list(PolicySample.objects.filter(run=run).order_by("step", "id"))
    assert [s.step for s in samples] == [0, 0, 0, 2, 2, 2, 3, 3, 3]
    assert all(s.score == pytest.approx(0.2 * s.kl, abs=1e-6) for s in samples)
    assert all(abs(s.kl) < 1e-4 for s in samples if s.step == 0)  # the start model is the reference
    assert any(abs(s.kl) > 1e-3 for s in samples if s.step == 3)
    assert samples[0].prompt.startswith("\n\nHuman: Tell me about")  # as the policy reads it
    assert run.baseline["n"] == 3  # the monitors' baseline: the start model's own samples
    client.force_login(AdminLabellerFactory().user)
    page = client.get(reverse("training:policy_detail", args=[run.pk])).content.decode()
    assert "implicit reward" in page and "Reward-hacking monitors" in page
    assert all(escape(s.response) in page for s in samples)


def test_a_dpo_run_samples_every_k_steps_with_implicit_rewards_and_reports_gold_accuracy(artifacts, dpo_base_model):
    dataset = dataset_with_preferences(10)
    prompt = PromptFactory(dataset=dataset, messages=[{"role": "user", "content": "Tell me about gold (99)."}])
    PairFactory(dataset=dataset, prompt=prompt, gold="a",  # no judgements: never trained on
                response_a=ResponseFactory(prompt=prompt, text="Gold is lovely; here is why (99)."),
                response_b=ResponseFactory(prompt=prompt, text="No idea about gold.", source="model-y"))
    run = dpo_run_create(dataset=dataset, base_model_path=dpo_base_model, enqueue=False, config={
        **TINY, "steps": 3, "beta": 0.2, "precompute_ref": True, "sample_every": 2, "sample_prompts": 3,
        "sample_max_new_tokens": 8})

    run = dpo_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    samples = list(PolicySample.objects.filter(run=run).order_by("step", "id"))
    assert [s.step for s in samples] == [0, 0, 0, 2, 2, 2, 3, 3, 3]
    for s in samples:
        assert s.score == pytest.approx(0.2 * s.kl, abs=1e-6)
        assert s.response == s.response.strip()
    assert all(abs(s.kl) < 1e-4 for s in samples if s.step == 0)  # the start model is the reference
    assert any(abs(s.kl) > 1e-3 for s in samples if s.step == 3)
    assert run.baseline["n"] == 3
    last = PolicyStep.objects.get(run=run, step=3).metrics
    assert run.data_snapshot["n_gold_pairs"] == 1
    assert last["eval_gold_rewards/accuracies"] in (0.0, 1.0) and "eval_rewards/accuracies" in last


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_a_run_without_sample_every_draws_nothing(artifacts, dpo_base_model, kind):
    create, execute = KINDS[kind]
    run = create(dataset=dataset_with_preferences(6), base_model_path=dpo_base_model, enqueue=False,
                 config={**TINY, "steps": 1})

    run = execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert not PolicySample.objects.filter(run=run).exists() and run.baseline == {}


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_the_length_monitor_fires_on_samples_grown_long_and_the_page_shows_it_and_them_escaped(client,
                                                                                              dpo_base_model, kind):
    run = PolicyRun.objects.create(kind=kind, dataset=dataset_with_preferences(1),
                                   base_model_path=dpo_base_model, status=JobStatus.RUNNING)
    recorder = _SampleRecorder(run, 10, options=RUN_OPTIONS)
    short = [{"prompt": "p", "response": f"Fine answer {i}.", "score": 0.0, "kl": 0.0} for i in range(4)]
    recorder.record_samples(0, short)
    assert not MonitorWarning.objects.filter(run=run).exists()
    long = [{"prompt": "p", "response": "<script>alert(1)</script> " + " ".join(f"word{i}{j}" for j in range(40)),
             "score": 1.0, "kl": 5.0} for i in range(4)]

    for step in (2, 4, 6):  # the monitors look at the last 3 draws together
        recorder.record_samples(step, long)

    warning = MonitorWarning.objects.get(run=run, kind=MonitorWarning.Kind.LENGTH)
    assert (warning.first_step, warning.step, warning.times_fired) == (2, 6, 3)
    client.force_login(AdminLabellerFactory().user)
    page = client.get(reverse("training:policy_detail", args=[run.pk])).content.decode()
    assert "Response length drifting" in page and "implicit reward" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; word00" in page and "<script>alert(1)" not in page


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_send_samples_of_a_run_against_its_sft_model_from_the_page(client, dpo_base_model, kind):
    source = dataset_with_preferences(3)
    sft = SFTRunFactory(dataset=source, artifact_path=dpo_base_model, status=JobStatus.SUCCEEDED)
    run = PolicyRun.objects.create(kind=kind, dataset=source, sft_run=sft, status=JobStatus.SUCCEEDED,
                                   artifact_path=dpo_base_model, config={"sample_max_new_tokens": 6})
    target = DatasetFactory()
    client.force_login(AdminLabellerFactory().user)
    page = client.get(reverse("training:policy_detail", args=[run.pk])).content.decode()
    assert "Send samples to labellers" in page and reverse("training:policy_send", args=[run.pk]) in page

    response = client.post(reverse("training:policy_send", args=[run.pk]),
                           {"dataset": target.pk, "mode": "policy_vs_sft", "n_prompts": 3})

    assert response.status_code == 302
    pairs = Pair.objects.filter(dataset=target)
    assert pairs.count() == 3 and {p.origin_run for p in pairs} == {f"{kind}:{run.pk}"}
    for p in pairs:
        assert {p.response_a.source, p.response_b.source} == {f"{kind}:{run.pk}", f"sft:{sft.pk}"}


def test_send_samples_of_a_base_model_dpo_run_as_two_policy_samples(dpo_base_model):
    source = dataset_with_preferences(2)
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=source, base_model_path=dpo_base_model,
                                   status=JobStatus.SUCCEEDED, artifact_path=dpo_base_model)

    pairs = policy_samples_send_to_annotation(run=run, dataset=DatasetFactory(), mode="two_policy", n_prompts=2, seed=1)

    assert len(pairs) == 2 and all(p.response_a.source == p.response_b.source == f"dpo:{run.pk}" for p in pairs)


def test_a_sampled_nul_byte_is_dropped_before_storing():
    from training.text import clean_response

    assert clean_response(" yes\x00 no\n\nHuman: more") == "yes no"


# What each kind's form needs beside the options every kind has.
FORM_FIELDS = {"dpo": {"loss_type": "sigmoid"}, "kto": {"source": "comparisons", "lr_schedule": "constant"}}


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_the_form_and_the_command_take_sample_every(client, dpo_base_model, capsys, artifacts, kind):
    import json

    from django.core.management import call_command

    client.force_login(AdminLabellerFactory().user)
    dataset = dataset_with_preferences(4, name=f"{kind}-sampled")
    assert "Sample every K steps" in client.get(reverse(f"training:{kind}_create")).content.decode()
    client.post(reverse(f"training:{kind}_create"), {
        "dataset": dataset.pk, "base_model_path": dpo_base_model, "beta": 0.1, "steps": 5, **FORM_FIELDS[kind],
        "batch_size": 2, "learning_rate": 0.001, "max_length": 128, "max_response_tokens": 24, "sample_every": 2,
        "aggregation": "majority", "min_agreement": 0, "eval_fraction": 0.25})
    assert PolicyRun.objects.get().config["sample_every"] == 2

    call_command(f"run_{kind}", "--dataset", f"{kind}-sampled", "--base-model", dpo_base_model, "--steps", "1",
                 "--sample-every", "1", "--config", json.dumps({**TINY, "sample_prompts": 2, "sample_max_new_tokens": 4}),
                 "--inline", "--json")

    out = json.loads(capsys.readouterr().out)
    assert out["status"] == JobStatus.SUCCEEDED, out["error"]
    assert list(PolicySample.objects.filter(run_id=out["id"]).values_list("step", flat=True).order_by("step")) == [0, 0, 1, 1]


def test_samples_sent_from_a_dpo_run_are_as_long_as_its_sample_max_new_tokens(dpo_base_model):
    from common.ml.loading import load_tokenizer

    source = dataset_with_preferences(2)
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=source, base_model_path=dpo_base_model,
                                   status=JobStatus.SUCCEEDED, artifact_path=dpo_base_model,
                                   config={"sample_max_new_tokens": 2})

    pairs = policy_samples_send_to_annotation(run=run, dataset=DatasetFactory(), mode="two_policy", n_prompts=2, seed=1)

    tok = load_tokenizer(dpo_base_model)
    lengths = [len(tok(r.text, add_special_tokens=False)["input_ids"]) for p in pairs for r in (p.response_a, p.response_b)]
    assert lengths and max(lengths) <= 4  # 2 sampled tokens; re-encoding the cleaned text may split one in two
