"""Agreement statistics against published values and independent implementations."""
import numpy as np
import krippendorff
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa as sm_fleiss_kappa

from annotation.audit import agreement
from annotation.audit.stats import ItemBootstrap

from .synthetic import simulate

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (counts per category).
FLEISS_1971 = np.array([
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0], [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6], [1, 0, 0, 5, 0], [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1], [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0],
    [0, 2, 0, 4, 0], [1, 0, 2, 0, 3], [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0],
    [1, 0, 0, 4, 1], [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
])

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units, values 1-5,
# nan = missing.
nan = np.nan
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
])


def counts_of(reliability: np.ndarray, values) -> np.ndarray:
    return np.stack([(reliability == v).sum(0) for v in values], axis=1).astype(float)


def test_fleiss_kappa_reproduces_fleiss_1971():
    assert agreement.fleiss_kappa(FLEISS_1971.astype(float)) == pytest.approx(0.430, abs=5e-4)


@pytest.mark.parametrize("metric, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_alpha_reproduces_his_worked_example(metric, published):
    counts = counts_of(KRIPPENDORFF_2011, [1, 2, 3, 4, 5])
    assert agreement.krippendorff_alpha(counts, metric, values=[1, 2, 3, 4, 5]) == pytest.approx(published, abs=5e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric", ["nominal", "ordinal", "interval"])
def test_krippendorff_alpha_matches_the_krippendorff_package_with_missing_data(seed, metric):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, 60)
    data = np.where(rng.random((7, 60)) < 0.6, truth, rng.integers(0, 5, (7, 60))).astype(float)
    data[rng.random(data.shape) < 0.35] = np.nan  # missing, unequal raters per unit
    ours = agreement.krippendorff_alpha(counts_of(data, range(5)), metric, values=np.arange(5))
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=metric, value_domain=list(range(5)))
    assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_fleiss_kappa_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    ratings = np.where(rng.random((80, 5)) < 0.5, rng.integers(0, 4, (80, 1)), rng.integers(0, 4, (80, 5)))
    table, _ = aggregate_raters(ratings, n_cat=4)
    assert agreement.fleiss_kappa(table.astype(float)) == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)


def test_cohen_kappa_per_labeller_pair_matches_scikit_learn():
    data = simulate(seed=3, kinds=["honest"] * 6 + ["random"], n_items=400, k=4)
    i, j = agreement.judgement_pairs(data.item)
    tables, _, _, _, pairs = agreement.cohen_tables(data, i, j, min_shared=20)
    ours = agreement.cohen_from_tables(tables)
    assert len(pairs) == 21  # 7 labellers, every pair shares well over 20 items
    for (a, b), kappa in zip(pairs, ours):
        mine_a = {it: c for it, c in zip(data.item[data.labeller == a], data.choice[data.labeller == a])}
        mine_b = {it: c for it, c in zip(data.item[data.labeller == b], data.choice[data.labeller == b])}
        shared = sorted(set(mine_a) & set(mine_b))
        expected = cohen_kappa_score([mine_a[s] for s in shared], [mine_b[s] for s in shared], labels=[0, 1, 2, 3])
        assert kappa == pytest.approx(expected, abs=1e-12)


def test_percent_agreement_is_the_share_of_agreeing_judgement_pairs_per_item():
    counts = np.array([[3, 0, 0, 0], [2, 1, 0, 0], [1, 1, 0, 0]], dtype=float)
    percent, _ = agreement.fleiss_from_sums(agreement.fleiss_parts(counts).sum(0))
    assert percent[0] == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_summary_intervals_contain_the_estimate_and_are_reproducible():
    data = simulate(seed=4, kinds=["honest"] * 10, n_items=500)
    first = agreement.agreement_summary(data, ItemBootstrap(data.n_items))
    again = agreement.agreement_summary(data, ItemBootstrap(data.n_items))
    assert first == again
    for key in ("percent", "fleiss_kappa", "krippendorff_alpha_nominal", "krippendorff_alpha_ordinal", "cohen_kappa_mean"):
        figure = first[key]
        assert figure["low"] < figure["value"] < figure["high"], key
    # With one judgement scheme (no strengths, no both_bad) nominal and ordinal alpha differ only by the metric.
    assert first["krippendorff_alpha_nominal"]["value"] != first["krippendorff_alpha_ordinal"]["value"]


def test_ordinal_scale_signs_strength_by_choice_and_drops_both_bad():
    data = simulate(seed=5, kinds=["honest"] * 5, n_items=4, k=4)
    data.choice[:] = [0, 1, 2, 3] * 4
    data.strength[:] = [3, 2, 0, 0] * 4
    assert agreement.ordinal_codes(data).tolist()[:4] == [6, 1, 3, -1]  # +3, -2, 0, missing


def test_cohen_mean_interval_matches_a_brute_force_item_bootstrap():
    """The interval of the mean Cohen's kappa comes from each item's influence on it (the limit of
    the item bootstrap); here it is checked against 4,000 explicit item resamples."""
    data = simulate(seed=6, kinds=["honest"] * 6 + ["random"] * 2, n_items=600, k=4)
    ours = agreement.agreement_summary(data, ItemBootstrap(data.n_items))["cohen_kappa_mean"]

    i, j = agreement.judgement_pairs(data.item)
    tables, rows, table, cell, _ = agreement.cohen_tables(data, i, j)
    row_item = data.item[i[rows]]
    rng = np.random.default_rng(0)
    means = []
    for _ in range(4000):
        multiplicity = np.bincount(rng.integers(0, data.n_items, data.n_items), minlength=data.n_items)
        resampled = np.bincount(table * 16 + cell, weights=multiplicity[row_item], minlength=len(tables) * 16)
        means.append(np.nanmean(agreement.cohen_from_tables(resampled.reshape(-1, 4, 4))))
    low, high = np.percentile(means, [2.5, 97.5])
    width = high - low
    assert ours["value"] == pytest.approx(np.nanmean(agreement.cohen_from_tables(tables)))
    assert abs(ours["low"] - low) < 0.1 * width and abs(ours["high"] - high) < 0.1 * width
