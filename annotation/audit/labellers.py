"""Per-labeller figures, quality, and flags from stated rules.

Flag rules. Every rule is a test on one labeller's rate, run for every labeller with at least the
rule's minimum sample. Each test's p-value is the level at which the labeller's interval just
reaches the rule's null value; Holm's step-down rule over the m labellers tested under that rule
decides which are flagged (the i-th smallest p-value is held to ALPHA/(m - i)). So, for each rule,
the chance that *any* honest labeller is flagged is at most ALPHA (5%), whatever the number of
labellers, and the reason quotes the interval at the level that labeller was held to.
- position: sides randomised, and the left-choice rate's interval excludes 50%.
- length / sycophancy: the labeller departs from the reference (gold, else the others'
  majority) towards the longer (agreeing) response more often than away from it, by more than
  the dataset does as a whole: Newcombe's interval of (departure rate towards - departure rate
  away) excludes the dataset-wide difference. An honest labeller's mistakes do not depend on
  which response is longer, so their difference is the dataset's.
- low agreement / low gold accuracy / inconsistency: the interval lies wholly below the halfway
  point between chance (what a labeller clicking at random with their own choice shares would
  get) and the median labeller's rate.
- too fast: the interval of the share of judgements under the reading floor lies wholly above 50%.
- fatigue: the labeller matches the reference (gold, else the others' majority) less often in the
  second half of their sessions than in the first: Newcombe's interval of (first-half rate -
  second-half rate) lies wholly above 0. Only judgements with real times have a place in a session.
"""
import numpy as np

from annotation.audit.bias import Indicators, sides_randomised
from annotation.audit.data import AuditData
from annotation.audit.stats import (
    group_medians, holm, interval_p_value, newcombe_diff, wilson, wilson_rate, z_for,
)

ALPHA = 0.05
MIN_N = {"agreement": 30, "gold": 20, "repeats": 10, "position": 30, "departures": 10, "speed": 20, "fatigue_half": 20}


def _by_labeller(data: AuditData, mask: np.ndarray) -> np.ndarray:
    return np.bincount(data.labeller, weights=mask.astype(np.float64), minlength=data.n_labellers)


def _fmt(v) -> str:
    return f"{v:.0%}"


def labeller_table(data: AuditData, ind: Indicators, majority: np.ndarray, quality: np.ndarray,
                   halves: tuple[np.ndarray, np.ndarray]) -> list[dict]:
    """`halves`: (early, late) masks of the judgements in the first and second half of their session."""
    L = data.n_labellers
    count = lambda mask: _by_labeller(data, mask)  # noqa: E731
    n = np.bincount(data.labeller, minlength=L)
    k = {name: (count(getattr(ind, name)), count(getattr(ind, name + "_den"))) for name in (
        "majority", "gold", "longer", "left", "agreeing", "fast",
        "to_longer", "to_shorter", "to_agreeing", "to_other")}
    same = np.bincount(data.repeat_labeller, weights=(data.repeat_choice == data.repeat_first_choice).astype(float), minlength=L)
    reps = np.bincount(data.repeat_labeller, minlength=L).astype(np.float64)
    k["repeats"] = (same, reps)
    # Matching the reference: the gold answer where there is one, else the others' majority.
    has_ref = ind.gold_den | ind.majority_den
    right = np.where(ind.gold_den, ind.gold, ind.majority) & has_ref
    early, late = halves
    k["early"], k["late"] = (count(right & early), count(has_ref & early)), (count(right & late), count(has_ref & late))
    chance = _chance_rates(data, majority)
    flags = _flags(data, k, chance)
    medians = group_medians(data.time_ms, data.labeller, L)
    rows = []
    for j in range(L):
        rows.append({
            "username": data.usernames[j],
            "labeller_id": int(data.labeller_ids[j]),
            "locale": data.locales[j],
            "expertise": data.expertise[j],
            "n": int(n[j]),
            "agreement_with_majority": wilson_rate(*_pick(k["majority"], j)),
            "gold_accuracy": wilson_rate(*_pick(k["gold"], j)),
            "self_consistency": wilson_rate(*_pick(k["repeats"], j)),
            "length_bias": wilson_rate(*_pick(k["longer"], j)),
            "position_bias": wilson_rate(*_pick(k["left"], j)),
            "sycophancy": wilson_rate(*_pick(k["agreeing"], j)),
            "too_fast": wilson_rate(*_pick(k["fast"], j)),
            "reference_match_first_half": wilson_rate(*_pick(k["early"], j)),
            "reference_match_second_half": wilson_rate(*_pick(k["late"], j)),
            "median_time_ms": None if np.isnan(medians[j]) else float(medians[j]),
            "quality": None if np.isnan(quality[j]) else round(float(quality[j]), 4),
            "flags": flags[j],
        })
    return rows


def _pick(pair, j):
    return pair[0][j], pair[1][j]


def _chance_rates(data: AuditData, majority: np.ndarray) -> dict[str, np.ndarray]:
    """What a labeller who clicks at random, with their own shares of the four choices, would
    score on the majority, the gold items and their repeats."""
    L = data.n_labellers
    def shares(lab, code):
        counts = np.bincount(lab * 4 + code.astype(np.int64), minlength=L * 4).reshape(L, 4).astype(np.float64)
        return counts / np.maximum(counts.sum(1, keepdims=True), 1)

    own = shares(data.labeller, data.choice)
    ok = majority >= 0
    maj = shares(data.labeller[ok], majority[ok])
    g = data.gold[data.item]
    gold = shares(data.labeller[g >= 0], g[g >= 0])
    return {"majority": (own * maj).sum(1), "gold": (own * gold).sum(1), "repeats": (own**2).sum(1)}


def _holm_test(eligible: np.ndarray, interval, null, lower) -> tuple[np.ndarray, tuple, list[str]]:
    """One rule over the eligible labellers. `interval(z)` -> (estimate, low, high) per labeller for
    a vector of normal quantiles z; a labeller's test rejects where the low bound lies above `null`
    (`lower`) or the high bound below it. Returns (flagged mask, the interval of each labeller at
    the level Holm held them to, that level in words)."""
    L = len(eligible)
    m = int(eligible.sum())
    if m == 0:
        return np.zeros(L, dtype=bool), (np.zeros(L),) * 3, [""] * L
    p = interval_p_value(lambda z: interval(z)[1:], null, lower)
    rejected, step_alpha = holm(p[eligible], ALPHA)
    flagged, alpha = np.zeros(L, dtype=bool), np.full(L, ALPHA / m)
    flagged[eligible], alpha[eligible] = rejected, step_alpha
    levels = [f"{1 - a:.4%} interval, Holm over {m} labellers" for a in alpha]
    return flagged, interval(z_for(1 - alpha)), levels


def _flags(data: AuditData, k: dict, chance: dict) -> list[list[dict]]:
    flags: list[list[dict]] = [[] for _ in range(data.n_labellers)]
    raised = [*_below_midpoint(k, chance), *(_position(k) if sides_randomised(data) else []), *_departures(k),
              *_too_fast(k), *_fatigue(k)]
    for j, rule, reason in raised:
        flags[j].append({"rule": rule, "reason": reason})
    return flags


def _below_midpoint(k: dict, chance: dict) -> list[tuple[int, str, str]]:
    """low agreement, low gold accuracy, inconsistency: below halfway between chance and the median."""
    raised = []
    for name, rule, what, minimum in (
        ("majority", "low_agreement", "agreed with the others' majority", MIN_N["agreement"]),
        ("gold", "low_gold_accuracy", "matched the gold answer", MIN_N["gold"]),
        ("repeats", "inconsistent", "gave the same choice on a repeated pair", MIN_N["repeats"]),
    ):
        hits, den = k[name]
        eligible = den >= minimum
        if not eligible.any():
            continue
        threshold = (chance[name] + np.median(hits[eligible] / den[eligible])) / 2
        flagged, (p, lo, hi), level = _holm_test(eligible, lambda z: wilson(hits, den, z), threshold, False)  # noqa: B023
        raised += [(j, rule, f"{what} {_fmt(p[j])} of the time, interval {_fmt(lo[j])}-{_fmt(hi[j])} ({level[j]}), "
                    f"n={int(den[j])}; below {_fmt(threshold[j])}, halfway between chance ({_fmt(chance[name][j])}) "
                    "and the median labeller") for j in np.flatnonzero(flagged)]
    return raised


def _position(k: dict) -> list[tuple[int, str, str]]:
    hits, den = k["left"]
    flagged, (p, lo, hi), level = _holm_test(den >= MIN_N["position"], lambda z: wilson(hits, den, z), 0.5, hits > den / 2)
    return [(j, "position", f"left position chosen {_fmt(p[j])} of the time, interval {_fmt(lo[j])}-{_fmt(hi[j])} "
             f"({level[j]}), n={int(den[j])}; fair rate 50%") for j in np.flatnonzero(flagged)]


def _departures(k: dict) -> list[tuple[int, str, str]]:
    """length / sycophancy: departing from the reference towards one side more than the dataset does."""
    raised = []
    for toward, away, rule, what in (
        ("to_longer", "to_shorter", "length", "longer"),
        ("to_agreeing", "to_other", "sycophancy", "agreeing"),
    ):
        (k1, n1), (k2, n2) = k[toward], k[away]
        eligible = (n1 >= MIN_N["departures"]) & (n2 >= MIN_N["departures"])
        fair = k1.sum() / max(n1.sum(), 1) - k2.sum() / max(n2.sum(), 1)
        flagged, (d, lo, hi), level = _holm_test(eligible, lambda z: newcombe_diff(k1, n1, k2, n2, z), fair, True)  # noqa: B023
        raised += [(j, rule, f"chose the {what} response against the reference {_fmt(k1[j] / n1[j])} of the time "
                    f"(n={int(n1[j])}) but the other way only {_fmt(k2[j] / n2[j])} (n={int(n2[j])}): difference "
                    f"{d[j]:+.0%}, interval {lo[j]:+.0%} to {hi[j]:+.0%} ({level[j]}); dataset-wide difference {fair:+.0%}")
                   for j in np.flatnonzero(flagged)]
    return raised


def _too_fast(k: dict) -> list[tuple[int, str, str]]:
    hits, den = k["fast"]
    flagged, (p, lo, hi), level = _holm_test(den >= MIN_N["speed"], lambda z: wilson(hits, den, z), 0.5, True)
    return [(j, "too_fast", f"faster than the reading floor on {_fmt(p[j])} of judgements, interval {_fmt(lo[j])}-"
             f"{_fmt(hi[j])} ({level[j]}), n={int(den[j])}; above 50%") for j in np.flatnonzero(flagged)]


def _fatigue(k: dict) -> list[tuple[int, str, str]]:
    (k1, n1), (k2, n2) = k["early"], k["late"]
    eligible = (n1 >= MIN_N["fatigue_half"]) & (n2 >= MIN_N["fatigue_half"])
    flagged, (d, lo, hi), level = _holm_test(eligible, lambda z: newcombe_diff(k1, n1, k2, n2, z), 0.0, True)
    return [(j, "fatigue", f"matched the reference (gold, else the others' majority) {_fmt(k1[j] / n1[j])} of the time "
             f"in the first half of their sessions (n={int(n1[j])}) but {_fmt(k2[j] / n2[j])} in the second half "
             f"(n={int(n2[j])}): decline {d[j]:+.0%}, interval {lo[j]:+.0%} to {hi[j]:+.0%} ({level[j]})")
            for j in np.flatnonzero(flagged)]


def group_breakdowns(data: AuditData, ind: Indicators) -> dict:
    """Pooled rates by labeller locale and by expertise tag, where labellers have them."""

    def group_rates(members: np.ndarray) -> dict:
        mine = members[data.labeller]
        return {
            "n_labellers": int(members.sum()),
            "n": int(mine.sum()),
            "agreement_with_majority": wilson_rate((ind.majority & mine).sum(), (ind.majority_den & mine).sum()),
            "position_bias": wilson_rate((ind.left & mine).sum(), (ind.left_den & mine).sum()),
            "length_bias": wilson_rate((ind.longer & mine).sum(), (ind.longer_den & mine).sum()),
            "too_fast": wilson_rate((ind.fast & mine).sum(), (ind.fast_den & mine).sum()),
        }

    locales = np.array(data.locales, dtype=object)
    by_locale = [{"group": loc, **group_rates(locales == loc)} for loc in sorted(set(data.locales) - {""})]
    tags = sorted({t for tags in data.expertise for t in tags})
    by_tag = [{"group": t, **group_rates(np.array([t in tags for tags in data.expertise], dtype=bool))} for t in tags]
    return {"by_locale": by_locale, "by_expertise": by_tag}

