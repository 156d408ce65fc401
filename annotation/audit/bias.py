"""Labeller biases: per-judgement indicators, and the dataset-wide rates built from them.

Each rate is the share of judgements where something happened (numerator) among those where it
could (denominator). Dataset-wide rates get an item-bootstrap interval; per-labeller and
per-group rates a Wilson interval (a labeller judges each pair once, so their judgements are
separate items)."""
from dataclasses import dataclass

import numpy as np

from annotation.audit.data import A, B, AuditData
from annotation.audit.stats import Z95, ItemBootstrap, per_item, rate, wilson_rate

LENGTH_RATIO = 1.2  # lengths "differ" when the longer is at least 20% longer
READING_CHARS_PER_SECOND = 50.0  # about 600 words a minute: a fast skim of the text shown
SESSION_BUCKETS = [(1, 10), (11, 25), (26, 50), (51, 100), (101, None)]


@dataclass
class Indicators:
    """Boolean (n,) masks; `x_den` says where a rate x is defined and `x` where it happened."""

    longer: np.ndarray
    longer_den: np.ndarray
    left: np.ndarray
    left_den: np.ndarray
    agreeing: np.ndarray
    agreeing_den: np.ndarray
    fast: np.ndarray
    fast_den: np.ndarray
    majority: np.ndarray
    majority_den: np.ndarray
    gold: np.ndarray
    gold_den: np.ndarray
    # departures from the reference: towards the longer / agreeing side and away from it
    to_longer: np.ndarray
    to_longer_den: np.ndarray
    to_shorter: np.ndarray
    to_shorter_den: np.ndarray
    to_agreeing: np.ndarray
    to_agreeing_den: np.ndarray
    to_other: np.ndarray
    to_other_den: np.ndarray


def indicators(data: AuditData, majority: np.ndarray, reference: np.ndarray) -> Indicators:
    side = np.where((data.choice == A) | (data.choice == B), data.choice, -1)  # 0/1 or -1
    decided = side >= 0
    la, lb = data.len_a[data.item], data.len_b[data.item]
    longer_side = np.where(la >= lb, 0, 1)
    differ = np.maximum(la, lb) >= LENGTH_RATIO * np.maximum(np.minimum(la, lb), 1)
    agrees = data.agrees[data.item]
    gold = data.gold[data.item]
    has_ref = (reference >= 0) & decided
    floor_ms = data.chars_shown / READING_CHARS_PER_SECOND * 1000
    ref_longer = reference == longer_side
    ref_agreeing = reference == agrees
    return Indicators(
        longer=decided & differ & (side == longer_side),
        longer_den=decided & differ,
        left=decided & (data.shown_left >= 0) & (side == data.shown_left),
        left_den=decided & (data.shown_left >= 0),
        agreeing=decided & (agrees >= 0) & (side == agrees),
        agreeing_den=decided & (agrees >= 0),
        fast=np.isfinite(data.time_ms) & (data.time_ms < floor_ms),
        fast_den=np.isfinite(data.time_ms),
        majority=(majority >= 0) & (data.choice == majority),
        majority_den=majority >= 0,
        gold=(gold >= 0) & (data.choice == gold),
        gold_den=gold >= 0,
        to_longer=has_ref & differ & ~ref_longer & (side == longer_side),
        to_longer_den=has_ref & differ & ~ref_longer,
        to_shorter=has_ref & differ & ref_longer & (side != longer_side),
        to_shorter_den=has_ref & differ & ref_longer,
        to_agreeing=has_ref & (agrees >= 0) & ~ref_agreeing & (side == agrees),
        to_agreeing_den=has_ref & (agrees >= 0) & ~ref_agreeing,
        to_other=has_ref & (agrees >= 0) & ref_agreeing & (side != agrees),
        to_other_den=has_ref & (agrees >= 0) & ref_agreeing,
    )


def sides_randomised(data: AuditData) -> bool:
    """Left/right was varied: each side was shown on the left in at least 10% of known cases."""
    known = data.shown_left[data.shown_left >= 0]
    return bool(len(known) > 0 and 0.1 <= (known == 0).mean() <= 0.9)


def logistic_length(data: AuditData) -> dict:
    """Logistic regression of P(A chosen) on log(len_a / len_b) over a/b choices, by IRLS;
    Wald 95% interval of the slope (judgements treated as independent). No fit where the log
    length ratio separates the choices (every A choice on one side of a cut, every B choice on the
    other): the maximum-likelihood slope is then infinite, and IRLS would report an arbitrary
    large number."""
    decided = (data.choice == A) | (data.choice == B)
    x = np.log(np.maximum(data.len_a[data.item], 1) / np.maximum(data.len_b[data.item], 1))[decided]
    y = (data.choice[decided] == A).astype(np.float64)
    empty = {"coef": None, "low": None, "high": None, "n": int(len(y)), "odds_ratio_per_doubling": None, "separated": False}
    if len(y) < 10 or np.ptp(x) == 0 or y.min() == y.max():
        return empty
    x_a, x_b = x[y == 1], x[y == 0]
    if x_a.min() >= x_b.max() or x_b.min() >= x_a.max():  # complete or quasi-complete separation
        return {**empty, "separated": True}
    X = np.stack([np.ones_like(x), x], axis=1)
    beta = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = np.maximum(p * (1 - p), 1e-12)
        hessian = X.T @ (X * w[:, None])
        step = np.linalg.solve(hessian, X.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    se = np.sqrt(np.diag(np.linalg.inv(hessian)))
    slope = beta[1]
    return {
        "coef": float(slope), "low": float(slope - Z95 * se[1]), "high": float(slope + Z95 * se[1]),
        "n": int(len(y)), "intercept": float(beta[0]), "odds_ratio_per_doubling": float(np.exp(slope * np.log(2))),
        "separated": False,
    }


def pct(r: dict) -> str:
    if r["value"] is None:
        return "no data"
    if r["low"] is None:
        return f"{r['value']:.0%} (n={r['n']:,})"
    return f"{r['value']:.0%} (95% interval {r['low']:.0%}-{r['high']:.0%}, n={r['n']:,})"


def dataset_biases(data: AuditData, ind: Indicators, boot: ItemBootstrap, positions: np.ndarray, timed: np.ndarray) -> dict:
    """`positions`: each judgement's place in its labeller's session (0 where its time is not real);
    `timed`: the judgements whose times are real."""
    def boot_rate(num, den):
        return boot.ratio(per_item(data.item, num, data.n_items), per_item(data.item, den, data.n_items))

    longer = boot_rate(ind.longer, ind.longer_den)
    logit = logistic_length(data)
    left = boot_rate(ind.left, ind.left_den)
    randomised = sides_randomised(data)
    agreeing = boot_rate(ind.agreeing, ind.agreeing_den)
    to_agreeing, to_other = boot_rate(ind.to_agreeing, ind.to_agreeing_den), boot_rate(ind.to_other, ind.to_other_den)
    fast = boot_rate(ind.fast, ind.fast_den)
    times = data.time_ms[np.isfinite(data.time_ms)]
    by_position = [
        {"positions": f"{lo}-{hi}" if hi else f"{lo}+",
         **wilson_rate(*_count(ind.majority, ind.majority_den & (positions >= lo) & (positions <= (hi or np.inf))))}
        for lo, hi in SESSION_BUCKETS
    ]
    hour = ((data.t // 3600) % 24).astype(np.int64)
    by_hour = [{"hour": h, **wilson_rate(*_count(ind.majority, ind.majority_den & timed & (hour == h)))} for h in range(24)]
    return {
        "length": {
            "longer_wins": longer,
            "logistic": logit,
            "against_reference": {
                "toward_longer": boot_rate(ind.to_longer, ind.to_longer_den),
                "toward_shorter": boot_rate(ind.to_shorter, ind.to_shorter_den),
            },
            "sentence": _length_sentence(longer, logit),
        },
        "position": {
            "left_wins": left,
            "sides_randomised": randomised,
            "sentence": _position_sentence(left, randomised),
        },
        "sycophancy": {
            "agreeing_wins": agreeing,
            "against_reference": {"toward_agreeing": to_agreeing, "toward_other": to_other},
            "sentence": _sycophancy_sentence(agreeing, to_agreeing, to_other),
        },
        "fatigue": {
            "by_session_position": by_position if timed.any() else None,
            "by_hour_utc": by_hour if timed.any() else None,
            "sentence": "Agreement with the majority of the other labellers, by a judgement's place in its "
            "labeller's session (sessions split at gaps of 30 minutes) and by hour of day (UTC); a fall "
            "in later positions suggests fatigue.",
            "times_sentence": _times_sentence(int(timed.sum()), data.n),
        },
        "speed": {
            "median_time_ms": float(np.median(times)) if len(times) else None,
            "too_fast": fast,
            "floor_chars_per_second": READING_CHARS_PER_SECOND,
            "sentence": _speed_sentence(fast, times),
        },
    }


def _count(num: np.ndarray, den: np.ndarray) -> tuple[int, int]:
    return int((num & den).sum()), int(den.sum())


def _times_sentence(n_timed: int, n: int) -> str:
    """Why the charts by time are missing or partial; empty when every judgement has a real time."""
    if n_timed == n:
        return ""
    if n_timed == 0:
        return ("These judgements have no recorded time of their own (an import without times puts every judgement "
                "at the import's moment), so the charts by session position, hour of day and week, and the fatigue "
                "flags, are left out.")
    return (f"Only {n_timed:,} of {n:,} judgements have a recorded time of their own (the rest share an import's "
            "moment); the charts by session position, hour of day and week, and the fatigue flags, use those only.")


def _length_sentence(longer: dict, logit: dict) -> str:
    if longer["value"] is None:
        return "No pair had responses differing in length by 20% or more, so length bias cannot be measured."
    text = (f"When the responses differ in length by at least 20%, the longer one won {pct(longer)} of the time; "
            "50% would mean length made no difference.")
    if logit["separated"]:
        text += (" The length ratio separates the choices completely (every choice of one side has a larger ratio "
                 "than every choice of the other), so no finite regression slope exists and none is given.")
    elif logit["coef"] is not None:
        text += (f" Each doubling of the length ratio multiplies the odds of winning by "
                 f"{logit['odds_ratio_per_doubling']:.2f} (logistic regression, slope {logit['coef']:.2f}, "
                 f"95% interval {logit['low']:.2f} to {logit['high']:.2f}).")
    return text


def _position_sentence(left: dict, randomised: bool) -> str:
    if left["value"] is None:
        return "No judgement records which response was shown on the left, so position bias cannot be measured."
    text = f"The response shown on the left won {pct(left)} of the time; 50% would mean no position preference."
    if not randomised:
        text += (" The sides were not randomised (the same response was nearly always on the left), so position "
                 "and content are confounded and this figure cannot separate them; no position flags are raised.")
    return text


def _sycophancy_sentence(agreeing: dict, to_agreeing: dict, to_other: dict) -> str:
    if agreeing["value"] is None:
        return "No pair marks which response agrees with a belief the user stated, so sycophancy cannot be measured."
    text = f"The response that agrees with the user's stated belief won {pct(agreeing)} of the time."
    if to_agreeing["value"] is not None:
        text += (f" Where the reference (gold, else the other labellers' majority) preferred the other response, "
                 f"labellers still chose the agreeing one {pct(to_agreeing)} of the time")
        if to_other["value"] is not None:
            text += f", against {pct(to_other)} for the opposite departure"
        text += "; a large gap means agreement with the user sways the choice."
    return text


def _speed_sentence(fast: dict, times: np.ndarray) -> str:
    if fast["value"] is None:
        return "No judgement records its time on task, so speed cannot be measured."
    return (f"Median time on task {np.median(times) / 1000:.1f} s; {pct(fast)} of judgements were faster than a "
            f"reading floor of {READING_CHARS_PER_SECOND:.0f} characters a second over the prompt and both responses.")
