"""Inter-annotator agreement over a dataset's items (pairs).

Definitions (each figure gets a 95% percentile interval from the shared item bootstrap, except
the mean Cohen's kappa: see _cohen_summary):
- percent agreement: for every item with at least two judgements, the share of its pairs of
  judgements that give the same choice; averaged over those items (Fleiss' P-bar).
- Fleiss' kappa: with unequal numbers of raters per item, computed the standard generalised way:
  P-bar as above over items with >= 2 ratings, chance agreement from the pooled category shares of
  those items (sum of p_j^2). With equal raters it is exactly Fleiss (1971).
- Krippendorff's alpha from the coincidence matrix, which is how he handles missing data: units
  with fewer than two pairable values drop out; every other unit contributes n_u(n_u - 1) ordered
  value pairs weighted 1/(n_u - 1).
  nominal: over the four choices a, b, tie, both_bad.
  ordinal: over the signed strength scale -3..3 (A preferred = +strength, B preferred = -strength,
  tie = 0; a missing strength counts as 1, the smallest step, so data without strengths becomes
  the 3-point scale b < tie < a). both_bad has no place on that scale: it is missing data for the
  ordinal alpha.
- Cohen's kappa for every pair of labellers with at least MIN_SHARED shared items, and their mean.
"""
import numpy as np

from annotation.audit.data import BOTH_BAD, TIE, A, AuditData
from annotation.audit.stats import Z95, ItemBootstrap, percentile_interval, rate

MIN_SHARED = 20
N_NOMINAL = 4
ORDINAL_VALUES = np.arange(-3, 4)  # index = value + 3


def category_counts(item: np.ndarray, code: np.ndarray, n_items: int, n_cat: int) -> np.ndarray:
    """(n_items, n_cat) counts of each category per item; codes < 0 are missing."""
    ok = code >= 0
    flat = np.bincount(item[ok] * n_cat + code[ok], minlength=n_items * n_cat)
    return flat.reshape(n_items, n_cat).astype(np.float64)


def ordinal_codes(data: AuditData) -> np.ndarray:
    """Index into ORDINAL_VALUES, or -1 (missing) for both_bad."""
    step = np.maximum(data.strength, 1).astype(np.int64)
    value = np.where(data.choice == A, step, -step)
    value = np.where(data.choice == TIE, 0, value)
    return np.where(data.choice == BOTH_BAD, -1, value + 3)


# ---- Krippendorff's alpha -------------------------------------------------------------------

def delta2(metric: str, n_c: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """Squared difference function(s), (..., V, V); n_c (..., V) are the value totals."""
    V = n_c.shape[-1]
    if metric == "nominal":
        return np.broadcast_to(1.0 - np.eye(V), n_c.shape[:-1] + (V, V))
    if metric == "interval":
        v = np.arange(V, dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64)
        return np.broadcast_to((v[:, None] - v[None, :]) ** 2, n_c.shape[:-1] + (V, V))
    if metric == "ordinal":
        cum = np.cumsum(n_c, axis=-1)
        lo = np.minimum.outer(np.arange(V), np.arange(V))
        hi = np.maximum.outer(np.arange(V), np.arange(V))
        # sum of n_g for g between c and k inclusive, minus half of n_c + n_k
        between = cum[..., hi] - cum[..., lo] + n_c[..., lo]
        d = between - (n_c[..., :, None] + n_c[..., None, :]) / 2
        return d**2 * (1 - np.eye(V))
    raise ValueError(f"unknown metric {metric!r}")


def alpha_parts(counts: np.ndarray) -> np.ndarray:
    """Per-unit pieces whose sums give alpha: (U, V*V + V) = [coincidences o_ck, totals n_c],
    zero for units with fewer than two pairable values."""
    m = counts.sum(1)
    pairable = m >= 2
    c = np.where(pairable[:, None], counts, 0.0)
    w = np.where(pairable, 1.0 / np.maximum(m - 1, 1), 0.0)
    outer = c[:, :, None] * c[:, None, :] * w[:, None, None]
    V = counts.shape[1]
    outer[:, np.arange(V), np.arange(V)] -= c * w[:, None]
    return np.concatenate([outer.reshape(len(counts), V * V), c], axis=1)


def alpha_from_sums(sums: np.ndarray, V: int, metric: str, values=None) -> np.ndarray:
    """Alpha from summed alpha_parts; works on a batch (B, V*V + V)."""
    sums = np.atleast_2d(sums)
    o = sums[:, : V * V].reshape(-1, V, V)
    n_c = sums[:, V * V:]
    n = n_c.sum(1)
    d2 = delta2(metric, n_c, values)
    observed = (o * d2).sum((1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * d2).sum((1, 2)) / np.maximum(n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - observed / expected


def krippendorff_alpha(counts: np.ndarray, metric: str = "nominal", values=None) -> float:
    """Alpha for a (units, values) count matrix, e.g. from category_counts."""
    V = counts.shape[1]
    return float(alpha_from_sums(alpha_parts(counts).sum(0), V, metric, values)[0])


# ---- Fleiss' kappa and percent agreement ------------------------------------------------------

def fleiss_parts(counts: np.ndarray) -> np.ndarray:
    """Per-item pieces: [rated by >= 2, P_i, counts...], zero for items with fewer than two."""
    m = counts.sum(1)
    ok = m >= 2
    p_i = np.where(ok, (counts * (counts - 1)).sum(1) / np.maximum(m * (m - 1), 1), 0.0)
    return np.concatenate([ok[:, None].astype(np.float64), p_i[:, None], np.where(ok[:, None], counts, 0.0)], axis=1)


def fleiss_from_sums(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(percent agreement, Fleiss' kappa) from summed fleiss_parts; batched."""
    sums = np.atleast_2d(sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bar = sums[:, 1] / sums[:, 0]
        p_j = sums[:, 2:] / sums[:, 2:].sum(1, keepdims=True)
        p_e = (p_j**2).sum(1)
        return p_bar, (p_bar - p_e) / (1 - p_e)


def fleiss_kappa(counts: np.ndarray) -> float:
    return float(fleiss_from_sums(fleiss_parts(counts).sum(0))[1][0])


# ---- Cohen's kappa per labeller pair ----------------------------------------------------------

def judgement_pairs(item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j), i < j, of every two judgements of the same item; `item` must be sorted."""
    firsts, seconds = [], []
    k = 1
    while k < len(item):
        same = np.flatnonzero(item[:-k] == item[k:])
        if len(same) == 0:
            break
        firsts.append(same)
        seconds.append(same + k)
        k += 1
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def cohen_tables(data: AuditData, i: np.ndarray, j: np.ndarray, min_shared: int = MIN_SHARED):
    """Confusion tables (Q, 4, 4) of labeller pairs that share >= min_shared items, the row index
    of each qualifying judgement pair, its table index and cell, and the labeller pairs (Q, 2)."""
    L = data.n_labellers
    li, lj = data.labeller[i], data.labeller[j]
    swap = li > lj
    lo, hi = np.where(swap, lj, li), np.where(swap, li, lj)
    c_lo = np.where(swap, data.choice[j], data.choice[i]).astype(np.int64)
    c_hi = np.where(swap, data.choice[i], data.choice[j]).astype(np.int64)
    key = lo * L + hi
    if L * L <= 50_000_000:  # a count per possible labeller pair: no sort needed
        shared = np.bincount(key, minlength=L * L)
        keys, inverse = np.arange(L * L), key
    else:
        keys, inverse, shared = np.unique(key, return_inverse=True, return_counts=True)
    good = shared >= min_shared
    table_of_key = np.cumsum(good) - 1
    rows = np.flatnonzero(good[inverse])
    table = table_of_key[inverse[rows]]
    cell = c_lo[rows] * N_NOMINAL + c_hi[rows]
    Q = int(good.sum())
    tables = np.bincount(table * 16 + cell, minlength=Q * 16).reshape(Q, 4, 4).astype(np.float64)
    pairs = np.stack([keys[good] // L, keys[good] % L], axis=1)
    return tables, rows, table, cell, pairs


def cohen_from_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa per (..., 4, 4) table; nan where chance agreement is 1 (undefined)."""
    n = tables.sum((-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_o = np.trace(tables, axis1=-2, axis2=-1) / n
        p_e = (tables.sum(-1) * tables.sum(-2)).sum(-1) / n**2
        kappa = (p_o - p_e) / (1 - p_e)
    return np.where(np.isclose(p_e, 1.0), np.nan, kappa)


# ---- the dataset figures ----------------------------------------------------------------------

def agreement_summary(data: AuditData, boot: ItemBootstrap) -> dict:
    nominal = category_counts(data.item, data.choice.astype(np.int64), data.n_items, N_NOMINAL)
    ordinal = category_counts(data.item, ordinal_codes(data), data.n_items, len(ORDINAL_VALUES))
    # Every figure is a function of each item's vote counts: work on the distinct count patterns.
    patterns, freq, resampled_freq = boot.patterns(np.concatenate([nominal, ordinal], axis=1))
    nom, ordi = patterns[:, :N_NOMINAL], patterns[:, N_NOMINAL:]
    fp, an, ao = fleiss_parts(nom), alpha_parts(nom), alpha_parts(ordi)
    blocks = np.concatenate([fp, an, ao], axis=1)
    full = (freq @ blocks)[None, :]
    n_multi = int(full[0, 0])
    resampled = resampled_freq @ blocks if n_multi else np.zeros((0, blocks.shape[1]))
    cut1, cut2 = fp.shape[1], fp.shape[1] + an.shape[1]
    V_ord = len(ORDINAL_VALUES)

    def figure(fn, n):
        value = fn(full)[0]
        lo, hi = percentile_interval(fn(resampled)) if len(resampled) else (None, None)
        return rate(value, lo, hi, n)

    n_ord = int((ordinal.sum(1) >= 2).sum())
    result = {
        "percent": figure(lambda s: fleiss_from_sums(s[:, :cut1])[0], n_multi),
        "fleiss_kappa": figure(lambda s: fleiss_from_sums(s[:, :cut1])[1], n_multi),
        "krippendorff_alpha_nominal": figure(lambda s: alpha_from_sums(s[:, cut1:cut2], N_NOMINAL, "nominal"), n_multi),
        "krippendorff_alpha_ordinal": figure(lambda s: alpha_from_sums(s[:, cut2:], V_ord, "ordinal"), n_ord),
    }
    result["cohen_kappa_mean"], result["cohen_kappa_pairs"] = _cohen_summary(data)
    return result


def _cohen_summary(data: AuditData) -> tuple[dict, int]:
    """Mean Cohen's kappa over the labeller pairs, with a 95% interval from each item's influence on
    that mean (the infinitesimal jackknife: the normal limit of the item bootstrap, exact for a
    statistic linear in the items' weights, and cheap: one pass over the judgement pairs, where
    an explicit bootstrap costs resamples x judgement pairs). Items, not judgement pairs, are the
    unit: an item's pairs in several labeller-pair tables move together."""
    i, j = judgement_pairs(data.item)
    tables, rows, table, cell, pairs = cohen_tables(data, i, j)
    Q = len(tables)
    kappas = cohen_from_tables(tables)
    finite = np.isfinite(kappas)
    if Q == 0 or not finite.any():
        return rate(None, None, None, 0), Q
    # d kappa / d N[a, b] per table, from kappa = (p_o - p_e) / (1 - p_e) with p_o = trace / n and
    # p_e = sum_c r_c s_c / n^2 (r, s: row and column totals; N[a, b] adds to r_a and s_b).
    r, s = tables.sum(2), tables.sum(1)  # (Q, 4)
    n = r.sum(1)[:, None, None]
    p_o = np.trace(tables, axis1=1, axis2=2)[:, None, None] / n
    p_e = (r * s).sum(1)[:, None, None] / n**2
    d_po = (np.eye(N_NOMINAL)[None] - p_o) / n
    d_pe = (s[:, :, None] + r[:, None, :]) / n**2 - 2 * p_e / n
    with np.errstate(invalid="ignore", divide="ignore"):
        d_kappa = d_po / (1 - p_e) + d_pe * (p_o - 1) / (1 - p_e) ** 2  # (Q, 4, 4)
    d_kappa[~finite] = 0.0
    # An item's influence on the mean: the derivatives at its judgement pairs' cells, over the tables.
    influence = np.bincount(data.item[i[rows]], weights=d_kappa.reshape(-1)[table * 16 + cell], minlength=data.n_items)
    influence /= finite.sum()
    se = np.sqrt(max((influence**2).sum() - influence.sum() ** 2 / data.n_items, 0.0))
    mean = float(kappas[finite].mean())
    return rate(mean, mean - Z95 * se, mean + Z95 * se, int(finite.sum())), Q


def agreement_by_week(data: AuditData, timed: np.ndarray, boot_seed: int, n_boot: int) -> list[dict]:
    """Percent agreement among the judgement pairs whose later judgement fell in each week
    (weeks start on Monday, UTC), with an item bootstrap within the week; only pairs of judgements
    that both have real times (`timed`)."""
    i, j = judgement_pairs(data.item)
    both = timed[i] & timed[j]
    i, j = i[both], j[both]
    if len(i) == 0:
        return []
    week = np.floor((np.maximum(data.t[i], data.t[j]) + 3 * 86400) / (7 * 86400)).astype(np.int64)
    same = (data.choice[i] == data.choice[j]).astype(np.float64)
    week0 = week.min()
    key = (week - week0) * data.n_items + data.item[i]
    if key.max() < 50_000_000:  # counts per possible (week, item): no sort needed
        pairs_n = np.bincount(key)
        keys = np.flatnonzero(pairs_n)
        agree_n, pairs_n = np.bincount(key, weights=same)[keys], pairs_n[keys]
    else:
        keys, inv = np.unique(key, return_inverse=True)
        agree_n, pairs_n = np.bincount(inv, weights=same), np.bincount(inv)  # per (week, item)
    share = agree_n / pairs_n
    key_week = keys // data.n_items + week0
    out = []
    for w in np.unique(key_week):
        mine = key_week == w
        s = share[mine]
        # Resample on the integer (agreeing, all) pair counts: few distinct patterns, fast.
        patterns, _, resampled = ItemBootstrap(len(s), n_boot=n_boot, seed=boot_seed).patterns(
            np.stack([agree_n[mine], pairs_n[mine]], axis=1))
        lo, hi = percentile_interval(resampled @ (patterns[:, 0] / patterns[:, 1]) / len(s))
        start = np.datetime64(int(w * 7 * 86400 - 3 * 86400), "s").astype("datetime64[D]")
        out.append({"week": str(start), **rate(s.mean(), lo, hi, len(s))})
    return out
