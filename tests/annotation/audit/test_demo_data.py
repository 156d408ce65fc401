"""The audit of the shipped LLMFAO crowd judgements (real data), imported with import_data."""
from io import StringIO
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from annotation.audit.agreement import ordinal_codes
from annotation.audit.data import audit_data_load
from annotation.audit.report import audit_report
from annotation.models import Dataset

pytestmark = pytest.mark.django_db
LLMFAO = Path(__file__).resolve().parents[3] / "data" / "demo" / "llmfao-judgements.jsonl.gz"


@pytest.fixture(scope="module")
def llmfao(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        users_before = set(User.objects.values_list("pk", flat=True))
        call_command("import_data", str(LLMFAO), "--dataset", "llmfao-test", stdout=StringIO())
        dataset = Dataset.objects.get(name="llmfao-test")
        yield dataset
        # This data outlives each test's transaction: remove all of it, the 124 imported
        # annotators included, so that later tests start from an empty database.
        dataset.delete()
        User.objects.exclude(pk__in=users_before).delete()


def test_demo_audit_counts_and_agreement_match_the_krippendorff_package(llmfao):
    report = audit_report(dataset=llmfao, use_cache=False)
    assert (report["n_judgements"], report["n_pairs"], report["n_labellers"]) == (8931, 2139, 124)
    data = audit_data_load(dataset_id=llmfao.pk)
    reliability = np.full((data.n_labellers, data.n_items), np.nan)  # labellers x pairs, nan = not judged
    reliability[data.labeller, data.item] = data.choice
    nominal = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal", value_domain=[0, 1, 2, 3])
    assert report["agreement"]["krippendorff_alpha_nominal"]["value"] == pytest.approx(nominal, abs=1e-9)
    reliability[data.labeller, data.item] = ordinal_codes(data)
    reliability[reliability < 0] = np.nan
    ordinal = krippendorff.alpha(reliability_data=reliability, level_of_measurement="ordinal", value_domain=list(range(7)))
    assert report["agreement"]["krippendorff_alpha_ordinal"]["value"] == pytest.approx(ordinal, abs=1e-9)


def test_demo_audit_reports_the_confounded_position_and_a_leaderboard(llmfao):
    report = audit_report(dataset=llmfao)
    position = report["biases"]["position"]
    assert position["sides_randomised"] is False and "not randomised" in position["sentence"]
    assert not any(f["rule"] == "position" for row in report["labellers"] for f in row["flags"])
    board = report["leaderboard"]
    assert len(board["models"]) > 10
    assert all(m["raw"]["low"] <= m["raw"]["value"] <= m["raw"]["high"] for m in board["models"])
    assert report["biases"]["speed"]["too_fast"]["value"] is None  # no times in this log


def test_demo_leaderboard_matches_an_unregularised_logistic_fit_within_one_elo(llmfao):
    """Chatbot Arena's computation: logistic regression without intercept on +1/-1 model columns,
    a tie as half a win for each side, both_bad left out (scikit-learn, no penalty)."""
    from sklearn.linear_model import LogisticRegression

    from annotation.audit.data import A, B, TIE
    from annotation.audit.leaderboard import ELO, leaderboard

    data = audit_data_load(dataset_id=llmfao.pk)
    sa, sb = data.source_a[data.item], data.source_b[data.item]
    use = np.isin(data.choice, [A, B, TIE]) & (sa >= 0) & (sb >= 0) & (sa != sb)
    rows = np.flatnonzero(use)
    X = np.zeros((2 * len(rows), len(data.sources)))
    X[np.arange(len(rows)), sa[rows]] = X[len(rows) + np.arange(len(rows)), sa[rows]] = 1
    X[np.arange(len(rows)), sb[rows]] = X[len(rows) + np.arange(len(rows)), sb[rows]] = -1
    y = np.concatenate([np.ones(len(rows)), np.zeros(len(rows))])  # each judgement as an A win and a B win ...
    a_won = (data.choice[rows] == A).astype(float) + 0.5 * (data.choice[rows] == TIE)
    weight = np.concatenate([a_won, 1 - a_won])  # ... weighted by how much each side won
    keep = weight > 0
    fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000).fit(X[keep], y[keep], sample_weight=weight[keep])
    present = np.unique(np.concatenate([sa[rows], sb[rows]]))
    beta = fit.coef_[0][present] - fit.coef_[0][present].mean()
    expected = {data.sources[m]: 1000 + ELO * b for m, b in zip(present, beta)}

    board = leaderboard(data)
    ours = {row["model"]: row["raw"]["value"] for row in board["models"]}
    assert ours.keys() == expected.keys()
    assert max(abs(ours[m] - expected[m]) for m in ours) < 1.0
    spread = max(expected.values()) - min(expected.values())
    assert spread > 200  # the figures compared are far from all-equal
