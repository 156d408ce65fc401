"""What the other labellers said: the leave-one-out majority, and the reference answer each
judgement is compared with (the gold answer where there is one, else that majority)."""
import numpy as np

from annotation.audit.agreement import N_NOMINAL, category_counts
from annotation.audit.data import AuditData
from annotation.audit.stats import sort_within_groups

MIN_OTHERS = 2


def loo_majority(data: AuditData) -> np.ndarray:
    """For each judgement, the choice that a strict majority (> half) of the *other* labellers of
    the same pair gave, or -1 where fewer than MIN_OTHERS others judged it or they split."""
    counts = category_counts(data.item, data.choice.astype(np.int64), data.n_items, N_NOMINAL)
    others = counts[data.item]  # (n, 4)
    others[np.arange(data.n), data.choice] -= 1
    m = others.sum(1)
    top = others.argmax(1)
    ok = (m >= MIN_OTHERS) & (others.max(1) * 2 > m)
    return np.where(ok, top, -1).astype(np.int8)


def reference_side(data: AuditData, majority: np.ndarray) -> np.ndarray:
    """0 (A) / 1 (B) for the side the reference prefers, -1 where there is no such reference:
    the pair's gold answer, else the leave-one-out majority when it is a or b."""
    gold = data.gold[data.item]
    maj_side = np.where(majority <= 1, majority, -1)
    return np.where(gold >= 0, gold, maj_side).astype(np.int8)


MAX_SAME_INSTANT = 3


def real_times(data: AuditData) -> np.ndarray:
    """(n,) bool: the judgement's time was recorded, not stamped on it. An import without times puts
    every judgement at the import's moment (and a file that gives only dates puts them at midnight),
    so a timestamp shared by more than MAX_SAME_INSTANT judgements is not a real time."""
    if data.n == 0:
        return np.zeros(0, dtype=bool)
    _, inverse, counts = np.unique(data.t, return_inverse=True, return_counts=True)
    return counts[inverse] <= MAX_SAME_INSTANT


def sessions(data: AuditData, timed: np.ndarray, gap_s: float = 30 * 60) -> tuple[np.ndarray, np.ndarray]:
    """Over the judgements with real times (`timed`): the position of each within its labeller's
    session (1 = first; sessions split at gaps longer than gap_s) and the session's length; 0 for
    both where the time is not real."""
    timed_idx = np.flatnonzero(timed)
    order = timed_idx[sort_within_groups(data.labeller[timed_idx], data.t[timed_idx])]
    lab, t = data.labeller[order], data.t[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (lab[1:] != lab[:-1]) | (np.diff(t) > gap_s)
    session = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    position = np.zeros(data.n, dtype=np.int64)
    position[order] = np.arange(len(order)) - starts[session] + 1
    length = np.zeros(data.n, dtype=np.int64)
    length[order] = np.bincount(session)[session] if len(order) else 0
    return position, length


def session_halves(position: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(early, late) masks: the first and the second half of each session (the middle judgement of
    an odd-length session in neither)."""
    return (position >= 1) & (2 * position <= length), 2 * position > length + 1
