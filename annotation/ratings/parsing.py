"""Reading a ratings file in TRL's unpaired format ("unpaired") into validated RatingRecords and
line issues, before anything touches the database: JSON Lines (gzip or plain) or the CSV that
annotation.ratings.exports writes (header `prompt,completion,label,...`)."""
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from annotation.dataio import fields
from annotation.dataio.formats import trl_completion
from annotation.dataio.reading import UNREADABLE, csv_items, decoded_lines, json_value, open_binary
from annotation.dataio.records import LineInvalid, LineIssue
from annotation.models import RESPONSE_FLAGS
from common.csv import formula_restored

FORMAT = "unpaired"
ANNOTATOR = "trl-imported"  # the annotator of a line that names none, as for the `trl` format
CSV_HEADER_START = "prompt,completion,label"
CSV_BOOL_CELLS = ("label", "is_repeat", "gold_label", "superseded", "counted", "excluded")
CSV_JSON_CELLS = ("flags",)
CSV_INT_CELLS = ("time_ms",)
CSV_TEXT_CELLS = ("completion", "rationale", "model", "annotator")


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
