"""Intervals shared by the audit: Wilson score intervals, Newcombe's interval for a difference of
two rates, and an item bootstrap whose resamples are drawn once and reused by every statistic."""
import math

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))
SEED = 20240229
N_BOOT = 200


def z_for(level: float) -> float:
    """Two-sided normal quantile for a confidence level (0.95 -> 1.96)."""
    return float(norm.ppf(0.5 + level / 2))


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


class ItemBootstrap:
    """Resamples of the items (pairs), drawn once with a fixed seed: `counts[b, i]` is how often
    item i appears in resample b. Every statistic that is a function of per-item sums is then
    bootstrapped by one matrix product, (B, n_items) @ (n_items, p)."""

    def __init__(self, n_items: int, *, n_boot: int = N_BOOT, seed: int = SEED):
        self.n_items = n_items
        rng = np.random.default_rng(seed)
        self.counts = np.zeros((n_boot, n_items), dtype=np.uint8)
        chunk = max(1, 4_000_000 // max(n_items, 1))
        for start in range(0, n_boot, chunk):
            c = min(chunk, n_boot - start)
            idx = rng.integers(0, n_items, size=(c, n_items)) + (np.arange(c) * n_items)[:, None]
            block = np.bincount(idx.ravel(), minlength=c * n_items).reshape(c, n_items)
            self.counts[start:start + c] = np.minimum(block, 255)

    def sums(self, per_item: np.ndarray) -> np.ndarray:
        """(n_items, p) per-item quantities -> (B, p) resampled sums."""
        per_item = np.asarray(per_item, dtype=np.float32).reshape(self.n_items, -1)
        out = np.empty((self.counts.shape[0], per_item.shape[1]), dtype=np.float64)
        step = max(1, 8_000_000 // max(self.n_items, 1))
        for s in range(0, len(out), step):
            out[s:s + step] = self.counts[s:s + step].astype(np.float32) @ per_item
        return out

    def ratio(self, num_per_item, den_per_item) -> dict:
        """Rate sum(num)/sum(den) with a percentile interval over item resamples."""
        num = np.asarray(num_per_item, dtype=np.float64)
        den = np.asarray(den_per_item, dtype=np.float64)
        n = int(den.sum())
        if n == 0:
            return rate(None, None, None, 0)
        sums = self.sums(np.stack([num, den], axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = sums[:, 0] / sums[:, 1]
        lo, hi = percentile_interval(boot)
        return rate(num.sum() / den.sum(), lo, hi, n)


def bootstrap_mean(values: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT) -> np.ndarray:
    """Means of n_boot resamples of `values`, drawn in chunks to bound memory."""
    chunk = max(1, 4_000_000 // max(len(values), 1))
    out = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, len(values), size=(min(chunk, n_boot - start), len(values)))
        out.append(values[idx].mean(1))
    return np.concatenate(out)


def percentile_interval(boot: np.ndarray) -> tuple[float | None, float | None]:
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return None, None
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(lo), float(hi)


def per_item(item: np.ndarray, weights, n_items: int) -> np.ndarray:
    """Sum of `weights` (a boolean mask or numbers, one per judgement) per item."""
    return np.bincount(item, weights=np.asarray(weights, dtype=np.float64), minlength=n_items)
