"""Planted biases are found and flagged; honest labellers are not; the regression matches statsmodels."""
from collections import Counter

import numpy as np
import pytest
import statsmodels.api as sm

from annotation.audit.bias import logistic_length
from annotation.audit.labellers import ALPHA
from annotation.audit.report import audit_from_data

from .synthetic import simulate

PLANTED = {"position": "position", "length": "length", "sycophant": "sycophancy", "random": "low_agreement",
           "fast": "too_fast"}


@pytest.fixture(scope="module")
def planted_report():
    kinds = ["honest"] * 30 + [kind for kind in PLANTED for _ in range(2)]
    return audit_from_data(simulate(seed=1, kinds=kinds))


def test_each_planted_bias_is_flagged_with_its_rule(planted_report):
    for row in planted_report["labellers"]:
        kind = row["username"].split("-")[0]
        if kind in PLANTED:
            assert PLANTED[kind] in {f["rule"] for f in row["flags"]}, row["username"]


def test_no_honest_labeller_is_flagged(planted_report):
    honest = [row for row in planted_report["labellers"] if row["username"].startswith("honest")]
    assert len(honest) == 30
    assert [row["username"] for row in honest if row["flags"]] == []


def test_flag_reasons_state_the_rate_and_interval(planted_report):
    row = next(r for r in planted_report["labellers"] if r["username"].startswith("position"))
    reason = next(f["reason"] for f in row["flags"] if f["rule"] == "position")
    assert "left position chosen" in reason and "interval" in reason and "fair rate 50%" in reason


def test_quality_ranks_random_clickers_below_honest_labellers(planted_report):
    quality = {r["username"]: r["quality"] for r in planted_report["labellers"]}
    worst_honest = min(q for u, q in quality.items() if u.startswith("honest"))
    assert all(q < worst_honest for u, q in quality.items() if u.startswith("random"))


def test_honest_labellers_are_flagged_no_more_often_than_the_rule_error_rate():
    """20 all-honest datasets: each rule may flag someone in at most 4 of them (at a family error
    rate of 5% the chance of 5 or more is 0.3%)."""
    datasets_with_flag = Counter()
    for seed in range(20):
        report = audit_from_data(simulate(seed=100 + seed, kinds=["honest"] * 40, n_items=1500))
        for rule in {f["rule"] for row in report["labellers"] for f in row["flags"]}:
            datasets_with_flag[rule] += 1
    assert ALPHA == 0.05
    assert all(count <= 4 for count in datasets_with_flag.values()), datasets_with_flag


def test_dataset_biases_have_rates_sentences_and_nulls_without_data(planted_report):
    biases = planted_report["biases"]
    left = biases["position"]["left_wins"]
    assert set(left) == {"value", "low", "high", "n"} and left["low"] <= left["value"] <= left["high"]
    assert biases["position"]["sides_randomised"] is True
    assert "left" in biases["position"]["sentence"]
    assert len(biases["fatigue"]["by_hour_utc"]) == 24


def test_a_bias_without_data_is_null_with_a_sentence_saying_so():
    report = audit_from_data(simulate(seed=2, kinds=["honest"] * 6, n_items=300, agrees_rate=0.0))
    assert report["biases"]["sycophancy"]["agreeing_wins"] == {"value": None, "low": None, "high": None, "n": 0}
    assert "cannot be measured" in report["biases"]["sycophancy"]["sentence"]
    assert all(row["sycophancy"]["value"] is None for row in report["labellers"])


def test_logistic_length_regression_matches_statsmodels():
    data = simulate(seed=7, kinds=["honest"] * 8 + ["length"] * 2, n_items=800)
    ours = logistic_length(data)
    decided = data.choice <= 1
    x = np.log(data.len_a[data.item] / data.len_b[data.item])[decided]
    y = (data.choice[decided] == 0).astype(float)
    fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    low, high = fit.conf_int()[1]
    assert ours["coef"] == pytest.approx(fit.params[1], rel=1e-6)
    assert ours["low"] == pytest.approx(low, rel=1e-4) and ours["high"] == pytest.approx(high, rel=1e-4)
    assert ours["n"] == int(decided.sum())
