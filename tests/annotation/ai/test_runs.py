"""The ai_label job: inline end to end, resume, the pair filters, a failing pair, the command."""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from annotation.ai.runs import ai_label_run_cancel, ai_label_run_create, ai_label_run_execute, ai_label_run_resume
from annotation.ai.services import ai_labeller_create
from annotation.models import AILabelRun, Judgement, Labeller
from common.exceptions import ApplicationError
from tests.annotation.ai.conftest import causal_judge, make_pairs
from tests.annotation.ai.endpoint_stub import StubEndpoint, completion, prompt_of
from tests.factories import JudgementFactory

pytestmark = pytest.mark.django_db
KEY = "sk-test-7d1b-run-key-never-shown"
CONTRACT = {"principle", "constitution", "backend", "judge_model", "orders", "agreed", "error"}


def run_inline(ai, dataset, **kwargs):
    run = ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False, **kwargs)
    return ai_label_run_execute(run_id=run.pk, worker="inline")


def test_every_pair_is_judged_once_with_the_detail_the_audit_reads(judge_folders):
    dataset, pairs = make_pairs(3)
    ai = causal_judge(judge_folders["random"])
    run = run_inline(ai, dataset)
    assert (run.status, run.n_pairs, run.n_judged, run.n_failed, run.progress) == ("succeeded", 3, 3, 0, 1.0)
    judgements = list(Judgement.objects.filter(labeller=ai.labeller).order_by("pair_id"))
    assert [j.pair_id for j in judgements] == [p.pk for p in pairs]
    for j in judgements:
        assert CONTRACT <= set(j.ai_detail) and [o["order"] for o in j.ai_detail["orders"]] == ["ab", "ba"]
        agreed = j.ai_detail["orders"][0]["verdict"] == j.ai_detail["orders"][1]["verdict"]
        assert j.ai_detail["agreed"] == agreed and j.choice == (j.ai_detail["orders"][0]["verdict"] if agreed else "tie")
    assert ai.labeller.kind == Labeller.Kind.MODEL
    assert all(p.n_judgements == 0 for p in type(pairs[0]).objects.filter(dataset=dataset))  # no human slot taken


def test_a_resumed_or_repeated_run_skips_the_pairs_already_judged(judge_folders):
    dataset, pairs = make_pairs(3)
    ai = causal_judge(judge_folders["first"])
    first = run_inline(ai, dataset, limit=2)
    assert (first.n_pairs, first.n_judged) == (2, 2)
    second = run_inline(ai, dataset)
    assert (second.n_pairs, second.n_judged) == (1, 1)
    assert Judgement.objects.filter(labeller=ai.labeller).count() == 3


def test_the_principles_drawn_are_recorded_and_the_same_with_the_same_seed(judge_folders):
    dataset, _ = make_pairs(6)
    one, two = causal_judge(judge_folders["first"], username="one"), causal_judge(judge_folders["first"], username="two")
    run_inline(one, dataset, seed=3), run_inline(two, dataset, seed=3)
    drawn = [[j.ai_detail["principle"] for j in Judgement.objects.filter(labeller=ai.labeller).order_by("pair_id")]
             for ai in (one, two)]
    assert drawn[0] == drawn[1] and len(set(drawn[0])) > 1


def test_only_pairs_with_fewer_than_k_human_judgements(judge_folders):
    dataset, pairs = make_pairs(3)
    JudgementFactory(pair=pairs[0]), JudgementFactory(pair=pairs[0]), JudgementFactory(pair=pairs[1])
    ai = causal_judge(judge_folders["first"])
    run_inline(ai, dataset, below_human_k=2)
    assert set(Judgement.objects.filter(labeller=ai.labeller).values_list("pair_id", flat=True)) == {pairs[1].pk, pairs[2].pk}


def judged_by_endpoint(server_answer, n_pairs=3, texts=None):
    dataset, pairs = make_pairs(n_pairs, texts=texts)
    with StubEndpoint(server_answer) as server:
        ai = ai_labeller_create(username="api-judge", backend="openai", endpoint_url=server.url,
                                endpoint_model="judge-1", api_key_env="ARBITER_TEST_RUN_KEY",
                                settings={"retries": 1, "backoff_s": 0.0})
        return run_inline(ai, dataset), pairs, ai


def test_a_failing_pair_is_recorded_on_it_and_the_run_goes_on(monkeypatch, caplog):
    monkeypatch.setenv("ARBITER_TEST_RUN_KEY", KEY)

    def answer(body, n):
        if "poison" in prompt_of(body):
            return 500, {"error": f"crashed on key {KEY}"}, {}
        return 200, completion("A"), {}

    texts = [("the dog", "the cat"), ("the poison dog", "the cat"), ("the sun", "the rain")]
    run, pairs, ai = judged_by_endpoint(answer, texts=texts)
    assert (run.status, run.n_judged, run.n_failed) == ("succeeded", 2, 1)
    assert [f["pair_id"] for f in run.failures] == [pairs[1].pk] and "HTTP 500" in run.failures[0]["error"]
    assert not Judgement.objects.filter(labeller=ai.labeller, pair=pairs[1]).exists()
    # "A" in both orders: the first position each time, so the orders disagree and it is a tie
    assert set(Judgement.objects.filter(labeller=ai.labeller).values_list("choice", flat=True)) == {"tie"}
    stored = json.dumps([run.failures, run.error, run.summary, list(Judgement.objects.values_list("ai_detail", flat=True))])
    assert KEY not in stored and KEY not in caplog.text


def test_a_run_where_every_pair_fails_is_failed_with_the_first_error(monkeypatch):
    monkeypatch.setenv("ARBITER_TEST_RUN_KEY", KEY)
    run, _, _ = judged_by_endpoint(lambda body, n: (200, completion("I would rather not say."), {}), n_pairs=2)
    assert (run.status, run.n_failed) == ("failed", 2)
    assert "No order gave a readable verdict" in run.error
    assert run.failures[0]["orders"][0]["raw"] == "I would rather not say."


def test_a_missing_key_fails_the_run_saying_which_variable(monkeypatch):
    monkeypatch.delenv("ARBITER_TEST_RUN_KEY", raising=False)
    run, _, _ = judged_by_endpoint(lambda body, n: (200, completion("A"), {}), n_pairs=1)
    assert run.status == "failed" and "ARBITER_TEST_RUN_KEY" in run.error


def test_a_queued_run_cancelled_never_judges(judge_folders):
    dataset, _ = make_pairs(1)
    ai = causal_judge(judge_folders["first"])
    run = ai_label_run_cancel(run=ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False))
    assert run.status == "cancelled" and not Judgement.objects.filter(labeller=ai.labeller).exists()


def test_the_command_judges_inline_and_prints_json(judge_folders):
    dataset, _ = make_pairs(3)
    causal_judge(judge_folders["first"], username="cli-judge")
    out = StringIO()
    call_command("ai_label", "--dataset", dataset.name, "--labeller", "cli-judge", "--limit", "2", "--inline", "--json",
                 stdout=out)
    printed = json.loads(out.getvalue())
    assert (printed["status"], printed["n_pairs"], printed["n_judged"], printed["n_failed"]) == ("succeeded", 2, 2, 0)


def test_the_create_command_makes_a_model_labeller_with_its_constitution(judge_folders):
    out = StringIO()
    call_command("create_ai_labeller", "cmd-judge", "--backend", "causal_lm", "--model-path", judge_folders["first"],
                 "--constitution", "house", "--principle", "Be kind.", "--principle", "Be brief.", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["constitution"] == "house v1" and printed["backend"] == "causal_lm"
    assert Labeller.objects.get(user__username="cmd-judge").kind == "model"


def test_a_judge_whose_model_cannot_load_fails_the_run_never_leaves_it_running(tmp_path):
    dataset, _ = make_pairs(2)
    ai = causal_judge(str(tmp_path / "no-such-model"))
    run = run_inline(ai, dataset)
    assert (run.status, run.n_failed, run.finished_at is not None) == ("failed", 2, True)
    assert "Every pair failed" in run.error and "OSError" in run.error


def test_one_active_run_per_labeller_and_dataset_is_a_database_rule(judge_folders):
    dataset, _ = make_pairs(1)
    ai = causal_judge(judge_folders["first"])
    first = ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        AILabelRun.objects.create(ai_labeller=ai, dataset=dataset)
    ai_label_run_cancel(run=first)
    second = ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False)
    with pytest.raises(ApplicationError, match="Another run"):
        ai_label_run_resume(run=first)
    assert second.status == "queued"
