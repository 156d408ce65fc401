"""Intervals shared by the audit: Wilson score intervals, Newcombe's interval for a difference of
two rates, an item bootstrap whose resamples are drawn once and reused by every statistic, and
Holm's step-down rule over the p-values that such intervals decide."""
import math

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))
SEED = 20240229
N_BOOT = 1000  # a 95% percentile interval then rests on 25 draws in each tail


def z_for(level) -> np.ndarray:
    """Two-sided normal quantile for each confidence level (0.95 -> 1.96)."""
    return norm.ppf(0.5 + np.asarray(level, dtype=np.float64) / 2)


def _clean(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def rate(value, low, high, n) -> dict:
    """The one shape every rate takes in the audit; null, never a made-up number, where undefined."""
    n = int(n)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    return {"value": _clean(value), "low": _clean(low), "high": _clean(high), "n": n}


def wilson(k, n, z: float = Z95):
    """Wilson score interval, vectorised; nan where n == 0."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, centre - half, centre + half


def wilson_rate(k, n, z: float = Z95) -> dict:
    p, lo, hi = wilson(k, n, z)
    return rate(p, lo, hi, n)


def newcombe_diff(k1, n1, k2, n2, z: float = Z95):
    """Newcombe's hybrid score interval for p1 - p2 (his method 10), vectorised."""
    p1, l1, u1 = wilson(k1, n1, z)
    p2, l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d, d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def interval_p_value(bounds, null, lower) -> np.ndarray:
    """Two-sided p-value of the test that an interval decides: 2 * (1 - Phi(z*)), where z* is the
    normal quantile at which the interval's bound just reaches `null` (found by bisection, since the
    bound moves monotonically away from the estimate as z grows). `bounds(z)` -> (low, high) for a
    vector z; `lower` says, per entry, that the low bound must lie above null (else the high bound
    below it). 1 where even the point estimate (z = 0) is on the wrong side."""
    shape = np.broadcast(np.asarray(null), np.asarray(lower), bounds(0.0)[0]).shape
    null, lower = np.broadcast_to(null, shape).astype(np.float64), np.broadcast_to(lower, shape).astype(bool)

    def excludes(z):
        low, high = bounds(z)
        with np.errstate(invalid="ignore"):
            return np.where(lower, low > null, high < null)

    z_in, z_out = np.zeros(shape), np.full(shape, 40.0)
    for _ in range(60):  # to about 1e-17 in z
        mid = (z_in + z_out) / 2
        out = excludes(mid)
        z_in, z_out = np.where(out, mid, z_in), np.where(out, z_out, mid)
    return np.where(excludes(np.zeros(shape)), 2 * norm.sf(z_in), 1.0)


def holm(p, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down rule: with the m p-values sorted, reject the i-th smallest (i = 0..m-1) while
    it is at most alpha / (m - i). Controls the family-wise error rate at alpha like Bonferroni,
    and rejects at least as much. Returns (rejected, the level alpha / (m - i) each p-value was
    held to)."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    step_alpha = alpha / (m - np.arange(m))
    passes = p[order] <= step_alpha
    n_rejected = m if passes.all() else int(np.argmin(passes))
    rejected, level = np.zeros(m, dtype=bool), np.empty(m)
    rejected[order[:n_rejected]] = True
    level[order] = step_alpha
    return rejected, level


class ItemBootstrap:
    """Bootstrap over items (pairs) for statistics that are functions of per-item sums.

    Items with the same per-item row are interchangeable, so resampling n items with replacement
    is the same as drawing multinomial counts over the distinct rows ("patterns") with their
    frequencies: exact, and far cheaper, since a dataset with k raters per item has only a few
    hundred distinct vote patterns however many items it has. Fixed seed: reruns agree."""

    def __init__(self, n_items: int, *, n_boot: int = N_BOOT, seed: int = SEED):
        self.n_items, self.n_boot, self.seed = n_items, n_boot, seed

    def patterns(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(patterns (P, p), frequency (P,), resampled frequencies (B, P)) of the per-item rows."""
        rows = np.asarray(rows, dtype=np.float64)
        rows = rows[:, None] if rows.ndim == 1 else rows
        if self.n_items == 0:
            return rows, np.zeros(0), np.zeros((self.n_boot, 0))
        patterns, freq = _unique_rows(rows)
        rng = np.random.default_rng(self.seed)
        boot = rng.multinomial(self.n_items, freq / self.n_items, size=self.n_boot).astype(np.float64)
        return patterns, freq.astype(np.float64), boot

    def ratio(self, num_per_item, den_per_item) -> dict:
        """Rate sum(num)/sum(den) with a percentile interval over item resamples."""
        num = np.asarray(num_per_item, dtype=np.float64)
        den = np.asarray(den_per_item, dtype=np.float64)
        n = int(den.sum())
        if n == 0:
            return rate(None, None, None, 0)
        patterns, _, boot = self.patterns(np.stack([num, den], axis=1))
        sums = boot @ patterns
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = percentile_interval(sums[:, 0] / sums[:, 1])
        return rate(num.sum() / den.sum(), lo, hi, n)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and their counts. Rows of small non-negative integers (vote counts) are
    packed into one integer key each, which sorts far faster than rows compared as tuples."""
    top = rows.max(0) + 1 if len(rows) else np.ones(rows.shape[1])
    integral = (rows >= 0).all() and (rows == np.round(rows)).all()
    if integral and np.sum(np.log2(top)) < 62:
        radix = np.concatenate([[1], np.cumprod(top[::-1])[:-1]])[::-1].astype(np.int64)
        keys, first, freq = np.unique(rows.astype(np.int64) @ radix, return_index=True, return_counts=True)
        return rows[first], freq
    return np.unique(rows, axis=0, return_counts=True)


def percentile_interval(boot: np.ndarray) -> tuple[float | None, float | None]:
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return None, None
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(lo), float(hi)


def sort_within_groups(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Order by group, then value (non-negative values, kept to the millisecond): one argsort of
    a packed integer key where it fits, which is several times faster than lexsort."""
    if len(value) == 0:
        return np.zeros(0, dtype=np.int64)
    low = value.min()
    scaled = np.round((value - low) * 1000).astype(np.int64)
    span = int(scaled.max()) + 1
    if span * (int(group.max()) + 1) < 2**62:
        return np.argsort(group.astype(np.int64) * span + scaled, kind="stable")
    return np.lexsort((value, group))


def group_medians(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of the finite `values` in each group (nan for an empty group), by one sort."""
    ok = np.isfinite(values)
    v, g = values[ok], group[ok]
    order = sort_within_groups(g, v)
    v, g = v[order], g[order]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(n_groups, np.nan)
    has = counts > 0
    lo, hi = starts[has] + (counts[has] - 1) // 2, starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2
    return out


def per_item(item: np.ndarray, weights, n_items: int) -> np.ndarray:
    """Sum of `weights` (a boolean mask or numbers, one per judgement) per item."""
    return np.bincount(item, weights=np.asarray(weights, dtype=np.float64), minlength=n_items)
