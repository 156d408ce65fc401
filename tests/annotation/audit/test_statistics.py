"""Soundness of the audit's statistics: multiple comparisons, fatigue, bootstrap units, the
leaderboard prior, Dawid-Skene inputs, the length regression's guard and real-time charts."""
from dataclasses import replace

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from annotation.audit.bias import logistic_length
from annotation.audit.leaderboard import leaderboard
from annotation.audit.quality import dawid_skene_one_coin
from annotation.audit.report import audit_from_data
from annotation.audit.stats import holm

from .synthetic import simulate


@pytest.mark.parametrize("seed", range(5))
def test_holm_rejects_what_statsmodels_rejects(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.02, 6), rng.uniform(0, 1, 20)])
    expected = multipletests(p, alpha=0.05, method="holm")[0]
    assert holm(p, 0.05)[0].tolist() == expected.tolist()


def test_holm_flags_what_bonferroni_misses():
    # Bonferroni holds all three to 0.05 / 3; Holm holds the third smallest to 0.05 / 1.
    assert holm([1e-6, 0.02, 1e-6], 0.05)[0].tolist() == [True, True, True]


@pytest.fixture(scope="module")
def tired_report():
    return audit_from_data(simulate(seed=3, kinds=["honest"] * 30 + ["tired"] * 2))


def test_a_labeller_whose_accuracy_falls_within_sessions_is_flagged_for_fatigue(tired_report):
    flagged = {row["username"] for row in tired_report["labellers"] if any(f["rule"] == "fatigue" for f in row["flags"])}
    assert flagged == {"tired-30", "tired-31"}
    reason = next(f["reason"] for row in tired_report["labellers"] for f in row["flags"] if f["rule"] == "fatigue")
    assert "first half" in reason and "second half" in reason and "Holm" in reason


def test_flag_reasons_name_holm_over_the_labellers_tested(tired_report):
    reasons = [f["reason"] for row in tired_report["labellers"] for f in row["flags"]]
    assert reasons and all("Holm" in r and "Bonferroni" not in r for r in reasons)


def test_every_bootstrap_draws_at_least_1000_resamples(tired_report):
    assert tired_report["method"]["n_bootstrap"] >= 1000


def duplicated(data, times: int):
    """Every judgement given `times` times (by new labellers): perfectly correlated judgements."""
    per_judgement = {name: np.tile(getattr(data, name), times) for name in (
        "item", "choice", "strength", "shown_left", "t", "time_ms", "chars_shown")}
    labeller = np.concatenate([data.labeller + k * data.n_labellers for k in range(times)])
    return replace(data, **per_judgement, labeller=labeller, labeller_ids=np.arange(data.n_labellers * times),
                   usernames=[f"l{j}" for j in range(data.n_labellers * times)], locales=["en"] * data.n_labellers * times,
                   expertise=[[] for _ in range(data.n_labellers * times)])


def test_the_leaderboard_resamples_pairs_so_copied_judgements_do_not_narrow_its_intervals():
    data = simulate(seed=4, kinds=["honest"] * 5, n_items=400, k=1)
    once, four_times = leaderboard(data)["models"][0]["raw"], leaderboard(duplicated(data, 4))["models"][0]["raw"]
    width = lambda r: r["high"] - r["low"]  # noqa: E731
    assert four_times["value"] == pytest.approx(once["value"], abs=0.01)
    assert width(four_times) == pytest.approx(width(once), rel=0.1)


def test_repeats_do_not_enter_dawid_skene():
    data = simulate(seed=5, kinds=["honest"] * 8 + ["random"] * 2, n_items=600, repeat_rate=0.3)
    without = replace(data, repeat_item=data.repeat_item[:0], repeat_labeller=data.repeat_labeller[:0],
                      repeat_choice=data.repeat_choice[:0], repeat_first_choice=data.repeat_first_choice[:0])
    np.testing.assert_array_equal(dawid_skene_one_coin(data), dawid_skene_one_coin(without))


def test_the_length_regression_refuses_perfectly_separated_data():
    data = simulate(seed=6, kinds=["honest"] * 5, n_items=200)
    # Every labeller picks the longer response: the log length ratio separates the choices completely.
    longer = np.where(data.len_a >= data.len_b, 0, 1)[data.item].astype(np.int8)
    fit = logistic_length(replace(data, choice=longer))
    assert fit["coef"] is None and fit["separated"] is True


def test_without_real_times_the_hour_and_week_charts_give_way_to_a_sentence():
    data = simulate(seed=8, kinds=["honest"] * 6, n_items=300)
    imported = replace(data, t=np.full(data.n, 1.77e9))  # an import without times: all at its moment
    report = audit_from_data(imported)
    fatigue = report["biases"]["fatigue"]
    assert fatigue["by_hour_utc"] is None and report["agreement_by_week"] is None
    assert "no recorded time" in fatigue["times_sentence"]


def test_with_real_times_the_hour_and_week_charts_are_drawn():
    report = audit_from_data(simulate(seed=8, kinds=["honest"] * 6, n_items=300))
    assert len(report["biases"]["fatigue"]["by_hour_utc"]) == 24 and report["agreement_by_week"]
    assert report["biases"]["fatigue"]["times_sentence"] == ""
