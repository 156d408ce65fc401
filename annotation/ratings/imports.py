"""Import of ratings in TRL's unpaired preference format ("unpaired"): one rating a line,
`{"prompt", "completion", "label"}`, prompt as text or messages, completion as text or one
assistant message, label true (thumbs up) or false; optional `annotator`, `id`, `model`,
`rationale`, `flags`, `created_at`, `time_ms`, `is_repeat`, `gold_label`. JSON Lines (gzip or
plain) or CSV with a header starting `prompt,completion,label` (what annotation.ratings.exports
writes). Every line is checked, against the file and the dataset, before anything is written."""
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.dataio import fields
from annotation.dataio.formats import trl_completion
from annotation.dataio.hashing import canonical, prompt_hash, response_hash, sha256
from annotation.dataio.planning import chunks
from annotation.dataio.reading import UNREADABLE, csv_items, decoded_lines, json_value, open_binary
from annotation.dataio.records import LineInvalid, LineIssue
from annotation.models import RESPONSE_FLAGS, Dataset, ImportBatch, Prompt, Rating, RatingItem, Response
from common.csv import formula_restored

FORMAT = "unpaired"
ANNOTATOR = "trl-imported"  # the annotator of a line that names none, as for the `trl` format
CSV_HEADER_START = "prompt,completion,label"
CSV_BOOL_CELLS = ("label", "is_repeat", "gold_label", "superseded", "counted", "excluded")
CSV_JSON_CELLS = ("flags",)
CSV_INT_CELLS = ("time_ms",)
CSV_TEXT_CELLS = ("completion", "rationale", "model", "annotator")
BATCH_SIZE = 1000


@dataclass
class RatingRecord:
    line: int
    messages: list[dict]
    completion: str
    label: bool
    annotator: str = ANNOTATOR
    model: str = ""
    external_id: str = ""
    rationale: str = ""
    flags: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    time_ms: int | None = None
    is_repeat: bool = False
    gold_label: bool | None = None
    # Filled in by planning:
    prompt_hash: str = ""
    response_hash: str = ""
    key: str = ""

    @property
    def response_key(self) -> tuple[str, str, str]:
        return self.prompt_hash, self.model, self.response_hash


def looks_unpaired(data) -> bool:
    return isinstance(data, dict) and {"completion", "label"} <= data.keys()


def file_is_unpaired(source) -> bool:
    """Whether the file's first line is a ratings CSV header or an unpaired JSON line."""
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as stream:
                return _first_line_unpaired(open_binary(stream))
        return _first_line_unpaired(open_binary(source))
    except UNREADABLE:
        return False  # the judgements importer reports the broken file


def _first_line_unpaired(stream) -> bool:
    for raw in itertools.islice(stream, 50):
        text = raw.decode("utf-8-sig", errors="replace")
        if text.strip():
            if text.startswith(CSV_HEADER_START):
                return True
            try:
                return looks_unpaired(json.loads(text, parse_int=fields.parse_json_int))
            except (ValueError, RecursionError):  # not JSON (the line's own importer says why)
                continue
    return False


def _bool(data: dict, key: str, *, required: bool = False) -> bool | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise LineInvalid(key, "is required (true for thumbs up, false for thumbs down)")
        return None
    if not isinstance(value, bool):
        raise LineInvalid(key, f"must be true or false, not {value!r}")
    return value


def _flags(data: dict) -> list[str]:
    value = data.get("flags")
    if value is None:
        return []
    if not isinstance(value, list) or any(name not in RESPONSE_FLAGS for name in value):
        raise LineInvalid("flags", f"must be a list of {', '.join(RESPONSE_FLAGS)}")
    return sorted(set(value))


def parse_line(data: dict, line: int) -> RatingRecord:
    annotator = data.get("annotator")
    return RatingRecord(
        line=line,
        messages=fields.messages(fields.required(data, "prompt"), "prompt"),
        completion=trl_completion(data, "completion"),
        label=_bool(data, "label", required=True),
        annotator=ANNOTATOR if annotator in (None, "") else fields.username(data, "annotator"),
        model=fields.optional_text(data, "model", max_length=fields.MAX_SOURCE),
        external_id=fields.external_id(data, "id", required_=False),
        rationale=fields.optional_text(data, "rationale"),
        flags=_flags(data),
        created_at=fields.optional_datetime(data, "created_at"),
        time_ms=fields.optional_int(data, "time_ms", low=0, high=2**31 - 1),
        is_repeat=bool(_bool(data, "is_repeat")),
        gold_label=_bool(data, "gold_label"),
    )


def _csv_row(row: dict) -> dict:
    """A ratings CSV row as its JSON Lines twin: prompt and flags as JSON, booleans as true/false,
    null as an empty cell, a formula with a leading apostrophe."""
    data = {}
    for key, cell in row.items():
        cell = formula_restored(cell)
        if key in CSV_TEXT_CELLS:
            data[key] = cell
        elif cell == "":
            data[key] = None
        elif key in CSV_BOOL_CELLS:
            if cell.strip().lower() not in ("true", "false", "1", "0"):
                raise LineInvalid(key, f"must be true or false, not {cell[:40]!r}")
            data[key] = cell.strip().lower() in ("true", "1")
        elif key in CSV_INT_CELLS:
            try:
                data[key] = int(cell)
            except ValueError:
                raise LineInvalid(key, f"must be an integer, not {cell[:40]!r}") from None
        elif key in CSV_JSON_CELLS:
            data[key] = json_value(cell, key)
        else:
            data[key] = cell
    for key in ("prompt", "completion"):  # a conversation (or one assistant message), written as JSON
        if (data.get(key) or "").startswith("["):
            try:
                data[key] = json_value(data[key], key)
            except LineInvalid:
                pass  # a plain text that starts with "["
    return data


@dataclass
class ParsedRatings:
    n_lines: int = 0
    records: list[RatingRecord] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LineIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def unreadable(self) -> bool:
        return any(i.field == "file" for i in self.errors)


def _items(stream: BinaryIO):
    try:
        first = stream.readline()
    except UNREADABLE as exc:
        yield 1, LineIssue(1, "file", f"cannot be read: {exc}")
        return
    if first.decode("utf-8-sig", errors="replace").startswith(CSV_HEADER_START):
        yield from csv_items(first, stream, row_parser=_csv_row)
    else:
        yield from decoded_lines(itertools.chain([first], stream))


def parse_ratings(source, *, on_progress=None) -> ParsedRatings:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            return _parse(open_binary(stream), on_progress)
    return _parse(open_binary(source), on_progress)


def _parse(stream, on_progress) -> ParsedRatings:
    parsed = ParsedRatings()
    for number, item in _items(stream):
        if on_progress is not None and number % 1000 == 0:
            on_progress()
        parsed.n_lines = max(parsed.n_lines, number)
        if isinstance(item, LineIssue):
            parsed.issues.append(item)
            continue
        try:
            fields.storable_tree(item)
            if item.get("superseded") is True:
                parsed.issues.append(LineIssue(number, "superseded", "a superseded revision: skipped, only current "
                                               "ratings are imported", "warning"))
                continue
            record = parse_line(item, number)
        except LineInvalid as exc:
            parsed.issues.append(LineIssue(number, exc.field, exc.message))
            continue
        if not record.completion.strip():
            parsed.issues.append(LineIssue(number, "completion", "is empty: imported as an empty response", "warning"))
        parsed.records.append(record)
    if parsed.n_lines == 0:
        parsed.issues.append(LineIssue(1, "file", "has no data lines"))
    return parsed


def plan_ratings(parsed: ParsedRatings, dataset: Dataset | None, *, dataset_name: str) -> None:
    """Hashes every record and checks it against the file's earlier lines and the dataset: a
    response's gold label must agree everywhere, and an annotator's first rating of a response may
    come once (the same again is a duplicate; the other label is an error: revise it in Arbiter).
    Adds the errors to parsed.issues and marks duplicates (key "")."""
    gold: dict[tuple, tuple[int, bool]] = {}
    firsts: dict[tuple, tuple[int, bool]] = {}
    occurrences: dict[str, int] = {}
    for r in parsed.records:
        r.prompt_hash, r.response_hash = prompt_hash(r.messages), response_hash(r.completion)
        recorded = [r.annotator, r.label, r.is_repeat, r.rationale, r.flags, r.time_ms,
                    r.created_at.isoformat() if r.created_at else None]
        # The dataset by name (it may not exist yet); keys are unique per labeller across datasets.
        base = sha256(canonical([dataset_name, list(r.response_key), recorded]))
        occurrences[base] = occurrences.get(base, 0) + 1
        r.key = "import:" + sha256(canonical([base, occurrences[base]]))
    if dataset is not None:
        existing_gold = dict(
            ((h, s, rh), g) for h, s, rh, g in RatingItem.objects.filter(dataset=dataset, gold_label__isnull=False)
            .values_list("response__prompt__content_hash", "response__source", "response__content_hash", "gold_label"))
        gold.update({k: (0, v) for k, v in existing_gold.items()})
        for name, h, s, rh, label in (Rating.objects.filter(item__dataset=dataset, is_repeat=False, revision_of__isnull=True)
                                      .values_list("labeller__user__username", "item__response__prompt__content_hash",
                                                   "item__response__source", "item__response__content_hash", "label")):
            firsts[(name, h, s, rh)] = (0, label)
        existing_keys = set(Rating.objects.filter(item__dataset=dataset, idempotency_key__startswith="import:")
                            .values_list("idempotency_key", flat=True))
    else:
        existing_keys = set()
    for r in parsed.records:
        where = lambda line: f"line {line}" if line else "the dataset"  # noqa: E731
        if r.gold_label is not None:
            seen = gold.setdefault(r.response_key, (r.line, r.gold_label))
            if seen[1] != r.gold_label:
                parsed.issues.append(LineIssue(r.line, "gold_label", f"differs from the gold label in {where(seen[0])} "
                                               "for the same response"))
                continue
        if r.key in existing_keys:
            r.key = ""  # already imported
            continue
        if not r.is_repeat:
            seen = firsts.setdefault((r.annotator,) + r.response_key, (r.line, r.label))
            if seen[0] != r.line:
                if seen[1] != r.label:
                    parsed.issues.append(LineIssue(r.line, "label", f"{r.annotator} already rated this response "
                                                   f"{'up' if seen[1] else 'down'} in {where(seen[0])}; mark a second "
                                                   "rating is_repeat, or revise it in Arbiter"))
                else:
                    r.key = ""  # the same first rating again
    bad = {i.line for i in parsed.errors}
    parsed.records = [r for r in parsed.records if r.line not in bad]


def import_ratings_file(*, dataset_name: str, file, skip_invalid: bool = False, created_by=None, filename: str = "",
                        on_progress=None, started: float | None = None) -> ImportBatch:
    """import_file for the unpaired format (it comes here when the format is "unpaired" or the file
    looks like it). Same rules: every line checked first, nothing written when a line is bad unless
    skip_invalid; a rejection recorded as a failed ImportBatch when the dataset exists."""
    from annotation.dataio.services import ImportRejected

    started = started or time.monotonic()
    parsed = parse_ratings(file, on_progress=on_progress)
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is not None and dataset.mode != Dataset.Mode.RATE:
        parsed.issues.insert(0, LineIssue(1, "file", f"dataset {dataset_name!r} is for comparing pairs; import "
                                          "ratings into a dataset in 'rate' mode (or a new one)"))
    elif not parsed.unreadable:
        plan_ratings(parsed, dataset, dataset_name=dataset_name)
    reason = ("the file cannot be read to its end" if parsed.unreadable
              else "no line is valid" if parsed.errors and not parsed.records else "")
    if parsed.errors and (reason or not skip_invalid):
        batch = None
        if dataset is not None:
            batch = ImportBatch.objects.create(
                dataset=dataset, format=FORMAT, filename=filename[:500], status=ImportBatch.Status.FAILED,
                n_lines=parsed.n_lines, errors=[i.as_dict() for i in parsed.issues], created_by=created_by,
                duration_s=time.monotonic() - started)
        raise ImportRejected(parsed.errors, batch, reason=reason)
    return _write(dataset_name=dataset_name, parsed=parsed, filename=filename, created_by=created_by, started=started)


@transaction.atomic
def _write(*, dataset_name, parsed: ParsedRatings, filename, created_by, started) -> ImportBatch:
    from annotation.dataio.services import ensure_labellers

    dataset, _ = Dataset.objects.get_or_create(name=dataset_name, defaults={"mode": Dataset.Mode.RATE})
    batch = ImportBatch.objects.create(dataset=dataset, format=FORMAT, filename=filename[:500], n_lines=parsed.n_lines,
                                       created_by=created_by)
    records = parsed.records
    prompt_ids = _prompts(dataset, records)
    response_ids = _responses(records, prompt_ids)
    item_ids, n_items = _rating_items(dataset, records, prompt_ids, response_ids)
    labeller_ids = ensure_labellers({r.annotator for r in records})
    now = timezone.now()
    new = [Rating(item_id=item_ids[r.response_key], labeller_id=labeller_ids[r.annotator], label=r.label,
                  rationale=r.rationale, flags=r.flags, time_ms=r.time_ms, created_at=r.created_at or now,
                  is_repeat=r.is_repeat, idempotency_key=r.key, source=Rating.Source.IMPORT, import_batch=batch)
           for r in records if r.key]
    Rating.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ratings_recount({rating.item_id for rating in new})
    if labeller_ids:
        dataset.labellers.add(*labeller_ids.values())
    batch.status = ImportBatch.Status.SUCCEEDED
    batch.n_rating_items_created, batch.n_ratings_created = n_items, len(new)
    batch.n_duplicates = sum(1 for r in records if not r.key)
    batch.errors = [i.as_dict() for i in parsed.issues]
    batch.duration_s = time.monotonic() - started
    batch.save()
    return batch


def _prompts(dataset, records) -> dict[str, int]:
    wanted = {r.prompt_hash: r.messages for r in reversed(records)}
    ids = {}
    for part in chunks(list(wanted)):
        ids.update(Prompt.objects.filter(dataset=dataset, content_hash__in=part).values_list("content_hash", "id"))
    new = [Prompt(dataset=dataset, messages=m, content_hash=h) for h, m in wanted.items() if h not in ids]
    Prompt.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({p.content_hash: p.id for p in new})
    return ids


def _responses(records, prompt_ids) -> dict[tuple, int]:
    """{(prompt id, source, content hash): response id}"""
    wanted = {}
    for r in records:
        wanted.setdefault((prompt_ids[r.prompt_hash], r.model, r.response_hash), r.completion)
    ids = {}
    for part in chunks(sorted({k[0] for k in wanted})):
        rows = Response.objects.filter(prompt_id__in=part).values_list("prompt_id", "source", "content_hash", "id")
        ids.update({(p, s, h): rid for p, s, h, rid in rows})
    new = [Response(prompt_id=k[0], source=k[1], content_hash=k[2], text=text, length_chars=len(text))
           for k, text in wanted.items() if k not in ids]
    Response.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({(r.prompt_id, r.source, r.content_hash): r.id for r in new})
    return ids


def _rating_items(dataset, records, prompt_ids, response_ids) -> tuple[dict[tuple, int], int]:
    """{record.response_key: item id} and how many items are new. A gold label is set on new items
    (plan_ratings made sure the file agrees with those already there)."""
    by_key = {r.response_key: response_ids[(prompt_ids[r.prompt_hash], r.model, r.response_hash)] for r in records}
    existing = {}
    for part in chunks(sorted(set(by_key.values()))):
        existing.update(RatingItem.objects.filter(response_id__in=part).values_list("response_id", "id"))
    gold = {r.response_key: r.gold_label for r in records if r.gold_label is not None}
    ext = {}
    for r in records:
        ext.setdefault(r.response_key, r.external_id)
    new = {key: RatingItem(dataset=dataset, response_id=rid, gold_label=gold.get(key), external_id=ext[key])
           for key, rid in by_key.items() if rid not in existing}
    RatingItem.objects.bulk_create(new.values(), batch_size=BATCH_SIZE)
    existing.update({item.response_id: item.id for item in new.values()})
    return {key: existing[rid] for key, rid in by_key.items()}, len(new)


def ratings_recount(item_ids: set[int]) -> None:
    """Keeps RatingItem.n_ratings equal to its counted (first, current) ratings, under the items' locks."""
    counted = (Rating.objects.filter(item_id=OuterRef("pk"), is_repeat=False, superseded=False)
               .order_by().values("item_id").annotate(n=Count("id")).values("n"))
    for part in chunks(sorted(item_ids)):
        list(RatingItem.objects.select_for_update().filter(id__in=part).values_list("id", flat=True))
        RatingItem.objects.filter(id__in=part).update(n_ratings=Coalesce(Subquery(counted), Value(0)))
