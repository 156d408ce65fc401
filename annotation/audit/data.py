"""Selectors that load a dataset's judgements into numpy arrays for the audit.

One query per kind of row (counted judgements, pairs, repeats, labellers), each a values_list
queryset (so the counted set is annotation.selectors.judgements_counted, exclusions included);
no per-row ORM objects, and on PostgreSQL no Python object per value either (array_agg + binary
COPY).
Strings are coded in SQL: choices in CHOICES order, sides 0 = A / 1 = B / -1 none, models by
their index in `sources`."""
from dataclasses import dataclass, field

import numpy as np
from django.db import connection
from django.db.models import Case, FloatField, Func, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, Length

from annotation.models import AILabeller, Judgement, Labeller, Pair, Response
from annotation.selectors import exclusions_active, judgements_counted

CHOICES = ("a", "b", "tie", "both_bad")
CHOICE_CODE = {c: i for i, c in enumerate(CHOICES)}
A, B, TIE, BOTH_BAD = range(4)
SIDE_CODE = {"a": 0, "b": 1}


class Epoch(Func):
    """Seconds since 1970 as a float, computed in the database so that no datetime objects are built."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra)


@dataclass
class AuditData:
    """Column arrays, one entry per counted judgement (length n), plus per-item and per-labeller
    tables. `item` indexes the dataset's judged pairs 0..n_items-1; `labeller` indexes `usernames`."""

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
    # AI labellers (issue 14): each labeller's kind, and the evidence an AI labeller recorded per
    # judgement, keyed (pair id, labeller id); empty when no AI labeller judged
    kinds: list[str] = field(default_factory=list)  # (L,) "human" | "model"
    ai_detail: dict = field(default_factory=dict)
    judge_models: dict = field(default_factory=dict)  # labeller id -> the judge's model name(s) it answers to

    @property
    def n(self) -> int:
        return len(self.item)

    @property
    def n_items(self) -> int:
        return len(self.pair_id)

    @property
    def n_labellers(self) -> int:
        return len(self.usernames)


def _code(field: str, mapping: dict[str, int], default: int = -1) -> Cast:
    """A string column as a float code; the outer cast pins the type to float8 (literals bound
    client-side would otherwise make it numeric, which has no fixed width in binary COPY)."""
    case = Case(*(When(**{field: k}, then=Value(v)) for k, v in mapping.items()), default=Value(default))
    return Cast(case, FloatField())


def _num(field, default: float = -1.0) -> Cast:
    return Cast(Coalesce(Cast(field, FloatField()), Value(default), output_field=FloatField()), FloatField())


def fetch_columns(qs) -> np.ndarray:
    """(rows, columns) float64 from a values_list queryset of annotations that are all non-null
    floats. On PostgreSQL the rows are folded into one float8 array per column (array_agg) and
    streamed with binary COPY: one message instead of one per row, which numpy reads in place."""
    names = list(qs.query.annotation_select)
    if connection.vendor != "postgresql":
        return np.array(list(qs), dtype=np.float64).reshape(-1, len(names))
    sql, params = qs.query.sql_with_params()
    arrays = ", ".join(f'array_agg(q."{name}")' for name in names)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY (SELECT {arrays} FROM ({sql}) q) TO STDOUT (FORMAT binary)", params) as copy:
            buf = b"".join(bytes(chunk) for chunk in copy)
    # Binary COPY: 19-byte header, int16 field count; per field int32 length (-1: null, no rows),
    # then the array: int32 ndim, has-null flag, element type, length, lower bound; then per
    # element int32 length + 8-byte big-endian float.
    columns, pos = [], 19 + 2
    for _ in names:
        size = int(np.frombuffer(buf, ">i4", 1, pos)[0])
        pos += 4
        if size < 0:
            return np.zeros((0, len(names)))
        n = int(np.frombuffer(buf, ">i4", 1, pos + 12)[0])
        values = np.frombuffer(buf, np.dtype([("len", ">i4"), ("v", ">f8")]), n, pos + 20)["v"]
        columns.append(values.astype(np.float64))
        pos += size
    return np.stack(columns, axis=1)


def audit_data_load(*, dataset_id: int) -> AuditData:
    # Skipping the exclusion test when no exclusion is active gives the same rows, faster.
    honour = exclusions_active(dataset_id=dataset_id).exists()
    judgements = fetch_columns(
        judgements_counted(dataset_id=dataset_id, honour_exclusions=honour)
        .order_by()
        .annotate(
            c_pair=_num("pair_id"), c_lab=_num("labeller_id"), c_choice=_code("choice", CHOICE_CODE),
            c_strength=_num("strength", 0.0), c_left=_code("shown_left", SIDE_CODE), c_t=Epoch("created_at"),
            c_time=_num("time_ms"),
        )
        .values_list("c_pair", "c_lab", "c_choice", "c_strength", "c_left", "c_t", "c_time")
    )
    sources = sorted(
        set(Response.objects.filter(prompt__dataset_id=dataset_id).exclude(source="").values_list("source", flat=True)
            .distinct().order_by())
    )
    source_code = {s: i for i, s in enumerate(sources)}
    pairs = fetch_columns(
        Pair.objects.filter(dataset_id=dataset_id)
        .order_by()
        .annotate(
            c_id=_num("id"), c_gold=_code("gold", SIDE_CODE), c_agrees=_code("agrees_with_user", SIDE_CODE),
            c_len_a=_num("response_a__length_chars", 0.0), c_len_b=_num("response_b__length_chars", 0.0),
            c_src_a=_code("response_a__source", source_code), c_src_b=_code("response_b__source", source_code),
            c_prompt=_num(Length(Cast("prompt__messages", TextField())), 0.0),
        )
        .values_list("c_id", "c_gold", "c_agrees", "c_len_a", "c_len_b", "c_src_a", "c_src_b", "c_prompt")
    )
    pair, lab, choice, strength, left, t, time_ms = judgements.T
    order = np.lexsort((lab, pair))  # by pair, then labeller (one counted judgement per pair and labeller)
    pair = pair[order].astype(np.int64)
    pair_id, item = np.unique(pair, return_inverse=True)
    # Per-pair columns of the judged pairs only, in pair-id order.
    pairs = pairs[np.argsort(pairs[:, 0])]
    at = np.searchsorted(pairs[:, 0], pair_id)
    p = pairs[at]

    labeller_ids, labeller_idx = np.unique(lab[order].astype(np.int64), return_inverse=True)
    people = {
        pk: (username, locale, tags)
        for pk, username, locale, tags in Labeller.objects.filter(pk__in=labeller_ids.tolist()).values_list(
            "id", "user__username", "locale", "expertise_tags"
        )
    }
    kinds = dict(Labeller.objects.filter(pk__in=labeller_ids.tolist()).values_list("id", "kind"))
    data = AuditData(
        item=item.astype(np.int64),
        labeller=labeller_idx.astype(np.int64),
        choice=choice[order].astype(np.int8),
        strength=strength[order].astype(np.int8),
        shown_left=left[order].astype(np.int8),
        t=t[order],
        time_ms=np.where(time_ms[order] < 0, np.nan, time_ms[order]),
        chars_shown=(p[:, 7] + p[:, 3] + p[:, 4])[item],
        pair_id=pair_id,
        gold=p[:, 1].astype(np.int8),
        agrees=p[:, 2].astype(np.int8),
        len_a=p[:, 3],
        len_b=p[:, 4],
        source_a=p[:, 5].astype(np.int64),
        source_b=p[:, 6].astype(np.int64),
        sources=sources,
        labeller_ids=labeller_ids,
        usernames=[people[pk][0] for pk in labeller_ids.tolist()],
        locales=[people[pk][1] or "" for pk in labeller_ids.tolist()],
        expertise=[[str(t) for t in (people[pk][2] or [])] for pk in labeller_ids.tolist()],
        repeat_item=np.zeros(0, np.int64),
        repeat_labeller=np.zeros(0, np.int64),
        repeat_choice=np.zeros(0, np.int8),
        repeat_first_choice=np.zeros(0, np.int8),
        kinds=[kinds[pk] for pk in labeller_ids.tolist()],
    )
    _attach_repeats(data, dataset_id=dataset_id)
    _attach_ai(data, dataset_id=dataset_id, honour=honour)
    return data


def _attach_ai(data: AuditData, *, dataset_id: int, honour: bool) -> None:
    """The ai_detail of AI labellers' counted judgements (a few per pair at most: a plain query),
    and the model names each AI labeller's judge answers to (for self-preference)."""
    model_ids = [int(pk) for pk, kind in zip(data.labeller_ids.tolist(), data.kinds) if kind == "model"]
    if not model_ids:
        return
    rows = (judgements_counted(dataset_id=dataset_id, honour_exclusions=honour)
            .filter(labeller_id__in=model_ids).values_list("pair_id", "labeller_id", "ai_detail"))
    data.ai_detail = {(pair, lab): detail or {} for pair, lab, detail in rows.iterator(chunk_size=2000)}
    names = {pk: set() for pk in model_ids}
    for (_, lab), detail in data.ai_detail.items():
        if detail.get("judge_model"):
            names[lab].add(str(detail["judge_model"]))
    for pk, path, endpoint_model in AILabeller.objects.filter(labeller_id__in=model_ids).values_list(
            "labeller_id", "model_path", "endpoint_model"):
        if not names[pk]:  # the judge's name as recorded wins; else what its configuration calls it
            names[pk].update(n for n in (endpoint_model, path.rstrip("/").rsplit("/", 1)[-1] if path else "") if n)
    data.judge_models = {pk: sorted(n) for pk, n in names.items()}


def _attach_repeats(data: AuditData, *, dataset_id: int) -> None:
    """Planned repeats, matched to the same labeller's counted first judgement of the pair (so an
    excluded first judgement drops its repeat too)."""
    rows = fetch_columns(
        Judgement.objects.filter(pair__dataset_id=dataset_id, is_repeat=True, superseded=False)
        .order_by()
        .annotate(c_pair=_num("pair_id"), c_lab=_num("labeller_id"), c_choice=_code("choice", CHOICE_CODE))
        .values_list("c_pair", "c_lab", "c_choice")
    )
    if not len(rows) or data.n == 0:
        return
    r_pair, r_lab, r_choice = rows.T.astype(np.int64)
    L = data.n_labellers
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
    data.repeat_choice = r_choice[hit].astype(np.int8)
    data.repeat_first_choice = data.choice[first]
