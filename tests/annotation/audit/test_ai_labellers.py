"""AI labellers in the audit (issue 14): badged rows, figures against the human majority, the AI vs
humans panel, and the people's statistics left as they were."""
import io
import json
import math

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.audit.ai import order_counts
from annotation.audit.report import audit_report
from tests.factories import (
    AdminLabellerFactory, AIJudgementFactory, JudgementFactory, LabellerFactory, ModelLabellerFactory, PairFactory,
    ResponseFactory,
)

from .factories import judged_dataset

pytestmark = pytest.mark.django_db


def wilson(k, n, z=1.959963984540054):
    """Wilson's score interval, written out from its formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def judge_all(dataset, verdicts_of, *, username="judge", judge_model="judge-model"):
    """An AI labeller that judges every pair; verdicts_of(index, pair) -> (order ab verdict, order ba verdict)."""
    ai = ModelLabellerFactory(user__username=username)
    for i, pair in enumerate(dataset.pairs.order_by("id")):
        AIJudgementFactory(pair=pair, labeller=ai, verdicts=verdicts_of(i, pair), judge_model=judge_model)
    return ai


def ai_row(report, username="judge"):
    return next(r for r in report["labellers"] if r["username"] == username)


def test_ai_labellers_do_not_count_in_the_peoples_statistics():
    dataset, _ = judged_dataset()
    before = audit_report(dataset=dataset)
    judge_all(dataset, lambda i, p: ("b", "b"))  # always against the people

    after = audit_report(dataset=dataset)

    assert after["agreement"] == before["agreement"]
    assert after["biases"] == before["biases"]
    assert (after["n_judgements"], after["n_labellers"]) == (before["n_judgements"], before["n_labellers"])
    assert [r for r in after["labellers"] if r["kind"] == "human"] == [{**r, "kind": "human"} for r in before["labellers"]]
    assert "human judgements only" in after["ai_vs_humans"]["policy"]


def test_audit_json_gives_each_labellers_kind():
    dataset, _ = judged_dataset()
    judge_all(dataset, lambda i, p: ("a", "a"))
    out = io.StringIO()

    call_command("audit", "--dataset", dataset.name, "--json", stdout=out)

    kinds = {row["username"]: row["kind"] for row in json.loads(out.getvalue())["labellers"]}
    assert kinds == {"ann": "human", "bob": "human", "cat": "human", "judge": "model"}


def test_agreement_with_the_human_majority_with_a_wilson_interval():
    dataset, _ = judged_dataset()  # people's majority is A on every pair
    ai = judge_all(dataset, lambda i, p: ("a", "a") if i < 18 else ("b", "b"))

    row = ai_row(audit_report(dataset=dataset))

    assert row["labeller_id"] == ai.pk and row["n"] == 24
    low, high = wilson(18, 24)
    assert row["agreement_with_majority"] == pytest.approx({"value": 18 / 24, "low": low, "high": high, "n": 24})
    assert row["ai"]["agreement_with_human_majority"] == row["agreement_with_majority"]
    assert row["flags"] == [] and row["quality"] is None


def test_position_bias_from_the_two_orders():
    dataset, _ = judged_dataset()
    judge_all(dataset, lambda i, p: ("a", "b") if i < 10 else ("a", "a"))  # 10 pairs flip with the order

    figures = ai_row(audit_report(dataset=dataset))["ai"]

    assert figures["order_disagreement"]["value"] == pytest.approx(10 / 24)
    # verdicts for the response shown first: both orders of a flipping pair, one order of the others
    assert figures["first_position_chosen"]["value"] == pytest.approx((10 * 2 + 14) / 48)
    assert figures["first_position_chosen"]["n"] == 48


def test_order_counts_record_unreadable_answers_apart():
    details = [{"orders": [{"order": "ab", "verdict": None}, {"order": "ba", "verdict": "a"}]},
               {"orders": [{"order": "ab", "verdict": "tie"}, {"order": "ba", "verdict": "b"}]}]

    assert order_counts(details) == {"both": 1, "disagree": 1, "decided": 2, "first": 1, "no_verdict": 1}


def test_self_preference_against_the_people_on_the_same_pairs():
    dataset, _ = judged_dataset()  # response A's source is "model-x"; cat says B on odd pairs
    judge_all(dataset, lambda i, p: ("a", "a"), judge_model="model-x")

    figures = ai_row(audit_report(dataset=dataset))["ai"]

    assert figures["judge_models"][0] == "model-x"
    assert figures["self_preference"]["value"] == pytest.approx(1.0)
    assert figures["humans_on_own_pairs"]["value"] == pytest.approx((24 + 24 + 12) / 72)


def test_no_self_preference_without_a_response_of_the_judges_model():
    dataset, _ = judged_dataset()
    judge_all(dataset, lambda i, p: ("a", "a"), judge_model="someone-else")

    assert ai_row(audit_report(dataset=dataset))["ai"]["self_preference"]["n"] == 0


def test_length_bias_uses_the_audits_indicators():
    dataset, _ = judged_dataset(n_pairs=0)
    people = [LabellerFactory() for _ in range(3)]
    for i in range(12):
        pair = PairFactory(dataset=dataset)
        pair.response_b = ResponseFactory(prompt=pair.prompt, text=f"A much, much longer answer, number {i}, " * 3)
        pair.save()
        for person in people:
            JudgementFactory(pair=pair, labeller=person, choice="a")
    judge_all(dataset, lambda i, p: ("b", "b"))  # always the longer one, against the people

    report = audit_report(dataset=dataset)
    figures = ai_row(report)["ai"]

    assert figures["longer_chosen"]["value"] == 1.0 and figures["longer_chosen"]["n"] == 12
    assert figures["toward_longer"]["value"] == 1.0
    assert report["ai_vs_humans"]["humans"]["longer_chosen"]["value"] == 0.0


def test_a_dataset_only_ai_labellers_judged_still_audits():
    dataset = PairFactory().dataset
    for _ in range(3):
        PairFactory(dataset=dataset)
    judge_all(dataset, lambda i, p: ("a", "b"))

    report = audit_report(dataset=dataset)

    assert report["n_judgements"] == 0
    assert ai_row(report)["agreement_with_majority"]["n"] == 0
    assert ai_row(report)["ai"]["order_disagreement"]["value"] == 1.0


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory(user__username="admin1").user)
    return client


def test_the_page_shows_the_badge_and_the_ai_vs_humans_panel_escaped(admin_client):
    dataset, _ = judged_dataset()
    judge_all(dataset, lambda i, p: ("a", "b"), username="<b>judge</b>")

    html = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()

    assert 'id="ai-vs-humans"' in html and "ai-badge" in html
    assert "&lt;b&gt;judge&lt;/b&gt;" in html and "<b>judge</b>" not in html
    assert "Orders disagree" in html and "100%" in html


def test_the_panel_has_an_empty_state_without_ai_labellers(admin_client):
    dataset, _ = judged_dataset()

    html = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()

    assert "No AI labeller has judged this dataset" in html and "ai-badge" not in html


def test_the_labeller_csv_says_each_labellers_kind(admin_client):
    dataset, _ = judged_dataset()
    judge_all(dataset, lambda i, p: ("a", "a"))

    lines = admin_client.get(reverse("audit:labellers-csv", args=[dataset.pk])).content.decode().splitlines()

    assert lines[0].endswith(",kind")
    assert sorted(line.rsplit(",", 1)[1] for line in lines[1:]) == ["human", "human", "human", "model"]


def test_an_excluded_ai_labeller_leaves_the_panel_and_is_badged_among_the_exclusions(admin_client):
    from annotation.audit.services import exclusion_create

    dataset, _ = judged_dataset()
    ai = judge_all(dataset, lambda i, p: ("a", "a"))
    exclusion_create(labeller=ai, dataset=dataset, reason="broken prompt template", created_by=None)

    report = audit_report(dataset=dataset)
    html = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()

    assert report["ai_vs_humans"] is None and all(r["kind"] == "human" for r in report["labellers"])
    exclusions = html[html.index('id="exclusions"'):]
    assert "judge" in exclusions and "ai-badge" in exclusions
