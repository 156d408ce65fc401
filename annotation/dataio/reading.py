"""Reading an import file (gzip or plain JSON Lines, or a judgements CSV as Arbiter exports it)
into validated records and line issues."""
import csv
import gzip
import io
import itertools
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from annotation.dataio import fields
from annotation.dataio.formats import FORMATS, PARSERS, detect_format
from annotation.dataio.records import LineInvalid, LineIssue, PairRecord
from common.csv import formula_restored

GZIP_MAGIC = b"\x1f\x8b"
# What reading a broken file raises: gzip's own errors, zlib's for a corrupt deflate stream,
# EOFError for a truncated one.
UNREADABLE = (OSError, EOFError, zlib.error)


@dataclass
class ParsedFile:
    format: str
    n_lines: int = 0
    records: list[PairRecord] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LineIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def bad_lines(self) -> set[int]:
        return {i.line for i in self.errors}

    @property
    def unreadable(self) -> bool:
        """The file itself is broken (corrupt or truncated, not CSV): no line of it can be trusted."""
        return any(i.field == "file" for i in self.errors)


def open_binary(stream: BinaryIO) -> BinaryIO:
    """A binary stream of the file's JSON Lines, unzipped when the file is gzip."""
    if hasattr(stream, "seek"):
        stream.seek(0)
    head = stream.read(2)
    rest = io.BufferedReader(_Prefixed(head, stream))
    return gzip.GzipFile(fileobj=rest) if head == GZIP_MAGIC else rest


class _Prefixed(io.RawIOBase):
    """A stream that gives back the bytes already read to sniff the format, then the rest."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# A judgements CSV export starts with these columns (annotation.dataio.exports.JUDGEMENT_FIELDS).
CSV_HEADER_START = "pair_id,prompt,"
CSV_JSON_CELLS = ("flags",)
CSV_INT_CELLS = ("strength", "time_ms")
CSV_BOOL_CELLS = ("is_repeat", "superseded")
CSV_TEXT_CELLS = ("prompt", "response_a", "response_b", "rationale")  # empty stays "", not null
# A cell holds one text, or the prompt's conversation as JSON. csv's default limit, 131,072, is below
# fields.MAX_TEXT_CHARS; the limit is process-wide, so it is only ever raised.
MAX_CSV_CELL_CHARS = 16 * fields.MAX_TEXT_CHARS
csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_CELL_CHARS))

# A JSON string (with its escapes) or a bracket; a string followed by ":" is a key.
JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?|[\[\]{}]')


def json_value(text: str, key: str):
    """The JSON value of a line (key "line") or of a CSV cell, or LineInvalid naming what is wrong.
    Integers over fields.MAX_INT_DIGITS digits come back as fields.LongInteger, for
    fields.storable_tree to name their field."""
    try:
        return json.loads(text, parse_int=fields.parse_json_int)
    except json.JSONDecodeError as exc:
        raise LineInvalid(key, f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:  # nested far deeper than fields.MAX_DEPTH
        raise LineInvalid(deep_key(text) if key == "line" else key,
                          f"nests objects and lists deeper than {fields.MAX_DEPTH} levels") from None


def deep_key(text: str) -> str:
    """The key of the line's object whose value nests past fields.MAX_DEPTH ("line" if none does)."""
    depth, key = 0, "line"
    for token in JSON_TOKENS.finditer(text):
        mark = token.group()
        if mark in ("[", "{"):
            depth += 1
            if depth > fields.MAX_DEPTH:
                return key
        elif mark in ("]", "}"):
            depth -= 1
        elif token.group(1) is not None and depth == 1:
            try:
                key = fields.shown_name(json.loads(mark[: token.start(1) - token.start()]))
            except json.JSONDecodeError:  # an escape json.loads never reached: name the line
                key = "line"
    return "line"


def file_items(stream: BinaryIO):
    """(line number, dict or LineIssue) for every record of the file, JSON Lines or CSV."""
    try:
        first = stream.readline()
    except UNREADABLE as exc:
        yield 1, LineIssue(1, "file", f"cannot be read: {exc}")
        return
    if first.decode("utf-8-sig", errors="replace").startswith(CSV_HEADER_START):
        yield from csv_items(first, stream)
    else:
        yield from decoded_lines(itertools.chain([first], stream))


def csv_items(header_line: bytes, stream: BinaryIO, row_parser=None):
    """The rows of a judgements CSV as the dicts its JSON Lines twin holds: prompt and flags were
    written as JSON, null as an empty cell, a formula with a leading apostrophe. A row's number is
    the line it starts on (a cell may span lines). `row_parser` (default: the judgements CSV's)
    turns a row's {column: cell} into that dict, or raises LineInvalid; the ratings CSV passes its own."""
    row_parser = row_parser or _csv_row
    try:
        header = next(csv.reader([header_line.decode("utf-8-sig", errors="replace")]))
    except csv.Error as exc:  # e.g. lines ended by a bare carriage return: one line to this reader
        yield 1, LineIssue(1, "file", f"cannot be read as CSV: {exc}")
        return
    undecodable: set[int] = set()
    reader = csv.reader(_csv_text_lines(stream, undecodable))
    number = 2
    try:
        for cells in reader:
            last = reader.line_num + 1  # the header is line 1
            bad = sorted(n for n in range(number, last + 1) if n in undecodable)
            if bad:
                where = "" if bad == [number] else f" (line {bad[0]})"
                yield number, LineIssue(number, "line", f"is not valid UTF-8{where}")
            elif not any(cell.strip() for cell in cells):
                pass  # a blank line
            elif len(cells) != len(header):
                yield number, LineIssue(number, "line", f"has {len(cells)} cells, the header {len(header)}")
            else:
                try:
                    yield number, row_parser(dict(zip(header, cells)))
                except LineInvalid as exc:
                    yield number, LineIssue(number, exc.field, exc.message)
            number = last + 1
    except csv.Error as exc:  # e.g. a cell over MAX_CSV_CELL_CHARS: the rows after it cannot be told apart
        yield number, LineIssue(number, "file", f"cannot be read as CSV from line {number} on: {exc}")
    except UNREADABLE as exc:
        yield number, LineIssue(number, "file", f"cannot be read: {exc}")


def _csv_text_lines(stream: BinaryIO, undecodable: set[int]):
    """The CSV's lines after the header, decoded one by one so that a bad byte spoils one row, not
    the rest; the numbers of the lines that are not UTF-8 go into `undecodable`."""
    for number, raw in enumerate(stream, 2):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            undecodable.add(number)
            yield raw.decode("utf-8", errors="replace")


def _csv_row(row: dict) -> dict:
    data = {}
    for key, cell in row.items():
        cell = formula_restored(cell)
        if key in CSV_TEXT_CELLS:
            data[key] = cell
        elif key in CSV_BOOL_CELLS:
            data[key] = cell.strip().lower() in ("true", "1")
        elif cell == "":
            data[key] = None
        elif key in CSV_INT_CELLS:
            try:
                data[key] = int(cell)
            except ValueError:  # also an integer over Python's 4,300 digits
                raise LineInvalid(key, f"must be an integer, not {cell[:40]!r}") from None
        elif key in CSV_JSON_CELLS:
            data[key] = json_value(cell, key)
        else:
            data[key] = cell
    if data.get("prompt", "").startswith("["):  # a conversation, written as JSON
        try:
            data["prompt"] = json_value(data["prompt"], "prompt")
        except LineInvalid:
            pass  # a plain-text prompt that starts with "["
    return data


def decoded_lines(stream: BinaryIO):
    """(line number, dict or LineIssue) for every non-blank line."""
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # tolerate a byte-order mark
            except UnicodeDecodeError:
                yield number, LineIssue(number, "line", "is not valid UTF-8")
                continue
            if not text.strip():
                continue
            try:
                data = json_value(text, "line")
            except LineInvalid as exc:
                yield number, LineIssue(number, exc.field, exc.message)
                continue
            if not isinstance(data, dict):
                yield number, LineIssue(number, "line", "must be a JSON object")
                continue
            yield number, data
    except UNREADABLE as exc:
        yield number + 1, LineIssue(number + 1, "file", f"cannot be read: {exc}")


PROGRESS_EVERY = 1000  # lines between two calls of parse_file's on_progress


def parse_file(source, *, format: str = "auto", on_progress=None) -> ParsedFile:
    """Validates every line of the file. `format` 'auto' takes it from the first valid line's keys.
    `on_progress()`, when given, is called every PROGRESS_EVERY lines (a worker's heartbeat)."""
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}")
    parsed = ParsedFile(format=format)
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            return _parse(open_binary(stream), parsed, on_progress)
    return _parse(open_binary(source), parsed, on_progress)


def _parse(stream: BinaryIO, parsed: ParsedFile, on_progress=None) -> ParsedFile:
    first_ids: dict[str, tuple[int, tuple]] = {}
    for number, item in file_items(stream):
        if on_progress is not None and number // PROGRESS_EVERY > parsed.n_lines // PROGRESS_EVERY:
            on_progress()
        parsed.n_lines = max(parsed.n_lines, number)
        if isinstance(item, LineIssue):
            parsed.issues.append(item)
            continue
        try:
            fields.storable_tree(item)
        except LineInvalid as exc:
            parsed.issues.append(LineIssue(number, exc.field, exc.message))
            continue
        if parsed.format == "auto":
            detected = detect_format(item)
            if detected is None:
                parsed.issues.append(LineIssue(number, "format", "cannot tell the format from this line's keys "
                                               f"({', '.join(sorted(item)[:8])}); pass --format"))
                continue
            parsed.format = detected
        if parsed.format == "judgements" and item.get("superseded") is True:
            parsed.issues.append(LineIssue(number, "superseded", "a superseded revision: skipped, only current "
                                           "judgements are imported", "warning"))
            continue
        try:
            records = PARSERS[parsed.format](item, number)
            # Later lines of a pair_id repeat the pair: warn about its content once.
            first_of_pair = parsed.format != "judgements" or same_pair_check(records[0], first_ids)
        except LineInvalid as exc:
            parsed.issues.append(LineIssue(number, exc.field, exc.message))
            continue
        for record in records if first_of_pair else []:
            for key in ("a", "b"):
                if not getattr(record, key).text.strip():
                    name = side_name(parsed.format, record, key)
                    parsed.issues.append(LineIssue(number, name, "is empty: imported as an empty response", "warning"))
        parsed.records.extend(records)
    if parsed.n_lines == 0:
        parsed.issues.append(LineIssue(1, "file", "has no data lines"))
    return parsed


def same_pair_check(record: PairRecord, first_ids: dict) -> bool:
    """Lines sharing a pair_id are judgements of one pair, so they must agree on what it is.
    True for the first line of a pair_id."""
    content = {"prompt": record.messages, "response_a": record.a.text, "model_a": record.a.source,
               "response_b": record.b.text, "model_b": record.b.source, "gold": record.gold,
               "agrees_with_user": record.agrees_with_user}
    first = first_ids.setdefault(record.external_id, (record.line, content))
    if first[1] != content:
        key = next(k for k in content if content[k] != first[1][k])
        raise LineInvalid(key, f"differs from line {first[0]}, which has the same pair_id {record.external_id!r}")
    return first[0] == record.line


def side_name(format: str, record: PairRecord, key: str) -> str:
    """The field a response came from, for messages."""
    if format in ("hh", "trl"):
        return "chosen" if record.judgement.choice == key else "rejected"
    return "responses" if format == "tasks" else f"response_{key}"
