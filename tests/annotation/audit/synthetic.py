"""Synthetic judgement data built directly as AuditData arrays (no database), with labellers whose
behaviour is planted: honest, position-biased, length-biased, sycophantic, random, too fast, and
tired (right 88% of the time in the first half of each session, 55% in the second)."""
import numpy as np

from annotation.audit.data import AuditData
from annotation.audit.bias import READING_CHARS_PER_SECOND

A, B, TIE, BOTH_BAD = 0, 1, 2, 3


def simulate(*, seed: int, kinds: list[str], n_items: int = 3000, k: int = 5, gold_rate: float = 0.1,
             agrees_rate: float = 0.3, repeat_rate: float = 0.1, bias_strength: float = 0.85) -> AuditData:
    rng = np.random.default_rng(seed)
    L = len(kinds)
    len_a = rng.integers(100, 2000, n_items).astype(float)
    len_b = rng.integers(100, 2000, n_items).astype(float)
    longer = np.where(len_a >= len_b, A, B)
    truth = np.where(rng.random(n_items) < 0.6, longer, 1 - longer)  # longer is better 60% of the time
    gold = np.where(rng.random(n_items) < gold_rate, truth, -1).astype(np.int8)
    agrees = np.where(rng.random(n_items) < agrees_rate, rng.integers(0, 2, n_items), -1).astype(np.int8)
    # k distinct labellers per item
    lab = np.argsort(rng.random((n_items, L)), axis=1)[:, :k]
    item = np.repeat(np.arange(n_items), k)
    lab = lab.ravel()
    n = len(item)
    left = rng.integers(0, 2, n).astype(np.int8)
    u = rng.random(n)
    honest = np.where(u < 0.8, truth[item], np.where(u < 0.9, TIE, 1 - truth[item]))
    choice = honest.copy()
    kind = np.array(kinds)[lab]
    biased = rng.random(n) < bias_strength
    differ = np.maximum(len_a, len_b)[item] >= 1.2 * np.minimum(len_a, len_b)[item]
    choice = np.where((kind == "position") & biased, left, choice)
    choice = np.where((kind == "length") & biased & differ, longer[item], choice)
    choice = np.where((kind == "sycophant") & biased & (agrees[item] >= 0), agrees[item], choice)
    choice = np.where(kind == "random", rng.integers(0, 4, n), choice)
    # Each labeller works through their items in sessions of 40 judgements a minute apart.
    t, place = np.zeros(n), np.zeros(n, np.int64)
    for j in range(L):
        mine = np.flatnonzero(lab == j)
        steps = np.where(np.arange(len(mine)) % 40 == 0, 3 * 3600.0, 60.0)
        t[mine] = 1.77e9 + 7.3 * j + np.cumsum(steps)  # labellers start at different moments
        place[mine] = np.arange(len(mine)) % 40
    right = rng.random(n) < np.where(place < 20, 0.88, 0.55)
    choice = np.where(kind == "tired", np.where(right, truth[item], 1 - truth[item]), choice)
    chars = len_a[item] + len_b[item] + 200
    floor_ms = chars / READING_CHARS_PER_SECOND * 1000
    time_ms = np.where(kind == "fast", floor_ms * rng.uniform(0.05, 0.6, n), floor_ms * rng.uniform(1.2, 4, n))
    rep = np.flatnonzero(rng.random(n) < repeat_rate)
    stays = (kind[rep] == "random") | (rng.random(len(rep)) < 0.9)
    repeat_choice = np.where(kind[rep] == "random", rng.integers(0, 4, len(rep)),
                             np.where(stays, choice[rep], TIE))
    return AuditData(
        item=item.astype(np.int64), labeller=lab.astype(np.int64),
        choice=choice.astype(np.int8), strength=np.zeros(n, np.int8), shown_left=left, t=t, time_ms=time_ms,
        chars_shown=chars, pair_id=np.arange(n_items, dtype=np.int64), gold=gold, agrees=agrees,
        len_a=len_a, len_b=len_b, source_a=np.zeros(n_items, np.int64), source_b=np.ones(n_items, np.int64),
        sources=["model-x", "model-y"], labeller_ids=np.arange(L, dtype=np.int64),
        usernames=[f"{kind}-{j}" for j, kind in enumerate(kinds)], locales=["en"] * L, expertise=[[] for _ in range(L)],
        repeat_item=item[rep].astype(np.int64), repeat_labeller=lab[rep].astype(np.int64),
        repeat_choice=repeat_choice.astype(np.int8), repeat_first_choice=choice[rep].astype(np.int8),
    )
