"""Selectors that load a dataset's judgements into numpy arrays for the audit.

One query per kind of row (counted judgements, repeats, labellers); no per-row ORM objects and no
Python loops over judgements beyond turning the fetched columns into arrays."""
from dataclasses import dataclass

import numpy as np
from django.db.models import FloatField, Func, IntegerField, TextField
from django.db.models.functions import Cast, Length

from annotation.models import Judgement, Labeller
from annotation.selectors import judgements_counted

CHOICES = ("a", "b", "tie", "both_bad")
CHOICE_CODE = {c: i for i, c in enumerate(CHOICES)}
A, B, TIE, BOTH_BAD = range(4)
SIDE_CODE = {"a": 0, "b": 1, "": -1, None: -1}


class Epoch(Func):
    """Seconds since 1970 as a float, computed in the database so that no datetime objects are built."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra)


@dataclass
class AuditData:
    """Column arrays, one entry per counted judgement (length n), plus per-item and per-labeller
    tables. `item` indexes the dataset's judged pairs 0..n_items-1; `labeller` indexes `usernames`."""

    judgement_id: np.ndarray  # (n,) int64
    item: np.ndarray  # (n,) int64
    labeller: np.ndarray  # (n,) int64
    choice: np.ndarray  # (n,) int8, CHOICES order
    strength: np.ndarray  # (n,) int8, 0 where not given
    shown_left: np.ndarray  # (n,) int8: 0 = A left, 1 = B left, -1 unknown
    t: np.ndarray  # (n,) float64 seconds since 1970 (UTC)
    time_ms: np.ndarray  # (n,) float64, nan where unknown
    chars_shown: np.ndarray  # (n,) float64: prompt + both responses, in characters
    # per item
    pair_id: np.ndarray  # (n_items,) int64
    gold: np.ndarray  # (n_items,) int8: 0 = A, 1 = B, -1 none
    agrees: np.ndarray  # (n_items,) int8: side that agrees with the user's stated belief, -1 none
    len_a: np.ndarray  # (n_items,) float64 characters
    len_b: np.ndarray  # (n_items,) float64
    source_a: np.ndarray  # (n_items,) int64 index into `sources`, -1 unnamed
    source_b: np.ndarray  # (n_items,) int64
    sources: list[str]
    # per labeller
    labeller_ids: np.ndarray  # (L,) int64
    usernames: list[str]
    locales: list[str]
    expertise: list[list[str]]
    # planned repeats whose first judgement is counted: the repeat's and the first choice
    repeat_item: np.ndarray  # (r,) int64
    repeat_labeller: np.ndarray  # (r,) int64
    repeat_choice: np.ndarray  # (r,) int8
    repeat_first_choice: np.ndarray  # (r,) int8

    @property
    def n(self) -> int:
        return len(self.item)

    @property
    def n_items(self) -> int:
        return len(self.pair_id)

    @property
    def n_labellers(self) -> int:
        return len(self.usernames)


COLUMNS = (
    "id", "pair_id", "labeller_id", "choice", "strength", "shown_left", "epoch", "time_ms",
    "pair__gold", "pair__agrees_with_user", "pair__response_a__length_chars", "pair__response_b__length_chars",
    "pair__response_a__source", "pair__response_b__source", "prompt_chars",
)


def _codes(values, mapping) -> np.ndarray:
    return np.fromiter((mapping[v] for v in values), dtype=np.int8, count=len(values))


def _intern(values) -> tuple[np.ndarray, list[str]]:
    names: dict[str, int] = {}
    codes = np.fromiter((names.setdefault(v, len(names)) if v else -1 for v in values), dtype=np.int64, count=len(values))
    return codes, list(names)


def audit_data_load(*, dataset_id: int) -> AuditData:
    qs = (
        judgements_counted(dataset_id=dataset_id)
        .annotate(
            epoch=Epoch("created_at"),
            prompt_chars=Length(Cast("pair__prompt__messages", TextField()), output_field=IntegerField()),
        )
        .order_by("pair_id", "id")
        .values_list(*COLUMNS)
    )
    rows = list(qs)
    cols = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    del rows
    (jid, pair, lab, choice, strength, shown_left, epoch, time_ms, gold, agrees, len_a, len_b, src_a, src_b, p_chars) = cols

    pair = np.asarray(pair, dtype=np.int64)
    # Rows are sorted by pair, so the first row of each pair carries that pair's columns.
    pair_id, first, item = np.unique(pair, return_index=True, return_inverse=True)
    take = lambda col, dtype: np.asarray(col, dtype=dtype)[first] if len(first) else np.zeros(0, dtype)  # noqa: E731
    len_a_i, len_b_i = take(len_a, np.float64), take(len_b, np.float64)
    sources_a, sources_b = [src_a[i] for i in first], [src_b[i] for i in first]
    src_codes, sources = _intern(sources_a + sources_b)

    labeller_ids, labeller_idx = np.unique(np.asarray(lab, dtype=np.int64), return_inverse=True)
    people = {
        pk: (username, locale, tags)
        for pk, username, locale, tags in Labeller.objects.filter(pk__in=labeller_ids.tolist()).values_list(
            "id", "user__username", "locale", "expertise_tags"
        )
    }
    time_arr = np.array([np.nan if v is None else v for v in time_ms], dtype=np.float64)
    data = AuditData(
        judgement_id=np.asarray(jid, dtype=np.int64),
        item=item.astype(np.int64),
        labeller=labeller_idx.astype(np.int64),
        choice=_codes(choice, CHOICE_CODE),
        strength=np.array([v or 0 for v in strength], dtype=np.int8),
        shown_left=_codes(shown_left, SIDE_CODE),
        t=np.asarray(epoch, dtype=np.float64),
        time_ms=time_arr,
        chars_shown=np.asarray(p_chars, dtype=np.float64) + np.asarray(len_a, dtype=np.float64) + np.asarray(len_b, dtype=np.float64)
        if len(pair) else np.zeros(0),
        pair_id=pair_id.astype(np.int64),
        gold=_codes([gold[i] for i in first], SIDE_CODE),
        agrees=_codes([agrees[i] for i in first], SIDE_CODE),
        len_a=len_a_i,
        len_b=len_b_i,
        source_a=src_codes[: len(first)],
        source_b=src_codes[len(first):],
        sources=sources,
        labeller_ids=labeller_ids,
        usernames=[people[pk][0] for pk in labeller_ids.tolist()],
        locales=[people[pk][1] or "" for pk in labeller_ids.tolist()],
        expertise=[list(people[pk][2] or []) for pk in labeller_ids.tolist()],
        repeat_item=np.zeros(0, np.int64),
        repeat_labeller=np.zeros(0, np.int64),
        repeat_choice=np.zeros(0, np.int8),
        repeat_first_choice=np.zeros(0, np.int8),
    )
    _attach_repeats(data, dataset_id=dataset_id)
    return data


def _attach_repeats(data: AuditData, *, dataset_id: int) -> None:
    """Planned repeats, matched to the same labeller's counted first judgement of the pair (so an
    excluded first judgement drops its repeat too)."""
    rows = list(
        Judgement.objects.filter(pair__dataset_id=dataset_id, is_repeat=True, superseded=False)
        .order_by()
        .values_list("pair_id", "labeller_id", "choice")
    )
    if not rows or data.n == 0:
        return
    r_pair, r_lab, r_choice = zip(*rows)
    L = data.n_labellers
    r_lab = np.asarray(r_lab, np.int64)
    r_idx = np.clip(np.searchsorted(data.labeller_ids, r_lab), 0, L - 1)
    known = data.labeller_ids[r_idx] == r_lab
    # Key (pair, labeller) of counted judgements, looked up with a sorted search.
    key = data.pair_id[data.item] * L + data.labeller
    order = np.argsort(key)
    r_key = np.asarray(r_pair, np.int64) * L + r_idx
    pos = np.clip(np.searchsorted(key[order], r_key), 0, len(key) - 1)
    hit = known & (key[order][pos] == r_key)
    first = order[pos[hit]]
    data.repeat_item = data.item[first]
    data.repeat_labeller = data.labeller[first]
    data.repeat_choice = _codes(r_choice, CHOICE_CODE)[hit]
    data.repeat_first_choice = data.choice[first]
