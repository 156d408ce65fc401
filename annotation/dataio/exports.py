"""Exports that stream: rows are read in chunks (iterator()), written one line at a time."""
import json
from collections.abc import Iterator
from typing import TextIO

from django.db.models import Exists, OuterRef

from annotation.models import Dataset, Judgement, Pair
from annotation.selectors import judgements_counted, pair_votes
from common.csv import formula_safe_writer

CHUNK = 500
JUDGEMENT_FIELDS = [
    # The `judgements` import format ...
    "pair_id", "prompt", "response_a", "response_b", "model_a", "model_b", "annotator", "choice", "strength",
    "shown_left", "created_at", "is_repeat", "agrees_with_user", "gold", "time_ms", "rationale", "flags",
    # ... and what only Arbiter knows (the importer ignores these, and skips superseded lines).
    "judgement_id", "revision_of", "superseded", "counted", "excluded", "source", "labeller_role", "dataset",
]


def trl_lines(dataset: Dataset, *, min_agreement: float = 0.0) -> Iterator[str]:
    """TRL's conversational preference format, one pair a line: `prompt` is the list of messages,
    `chosen`/`rejected` are each one assistant message. The winner is the strict majority of the
    counted judgements (exclusions honoured); ties, split votes and pairs whose agreement is below
    `min_agreement` are left out."""
    counted = judgements_counted(dataset_id=dataset.id)
    batch = []
    for votes in pair_votes(counted):
        if votes.winner is not None and votes.agreement >= min_agreement:
            batch.append(votes)
        if len(batch) == CHUNK:
            yield from _trl_chunk(batch)
            batch = []
    yield from _trl_chunk(batch)


def _trl_chunk(batch) -> Iterator[str]:
    pairs = Pair.objects.select_related("prompt", "response_a", "response_b").in_bulk([v.pair_id for v in batch])
    for votes in batch:
        pair = pairs[votes.pair_id]
        chosen, rejected = (pair.response_a, pair.response_b) if votes.winner == "a" else (pair.response_b, pair.response_a)
        yield json.dumps({
            "prompt": pair.prompt.messages,
            "chosen": [{"role": "assistant", "content": chosen.text}],
            "rejected": [{"role": "assistant", "content": rejected.text}],
        }, ensure_ascii=False) + "\n"


def judgement_rows(dataset: Dataset) -> Iterator[dict]:
    """Every judgement of the dataset, superseded and excluded ones included (marked so)."""
    counted = judgements_counted(dataset_id=dataset.id).filter(pk=OuterRef("pk"))
    counted_all = judgements_counted(dataset_id=dataset.id, honour_exclusions=False).filter(pk=OuterRef("pk"))
    rows = (
        Judgement.objects.filter(pair__dataset=dataset)
        .select_related("pair__prompt", "pair__response_a", "pair__response_b", "labeller__user")
        .annotate(counted=Exists(counted), counted_all=Exists(counted_all))
        .order_by("pair_id", "created_at", "id")
    )
    for j in rows.iterator(chunk_size=CHUNK):
        pair = j.pair
        yield {
            "pair_id": pair.external_id or f"arbiter-pair-{pair.pk}",
            "prompt": pair.prompt.messages,
            "response_a": pair.response_a.text, "response_b": pair.response_b.text,
            "model_a": pair.response_a.source, "model_b": pair.response_b.source,
            "annotator": j.labeller.user.username, "choice": j.choice, "strength": j.strength,
            "shown_left": j.shown_left or None, "created_at": j.created_at.isoformat(), "is_repeat": j.is_repeat,
            "agrees_with_user": pair.agrees_with_user or None, "gold": pair.gold or None, "time_ms": j.time_ms,
            "rationale": j.rationale, "flags": j.flags,
            "judgement_id": j.pk, "revision_of": j.revision_of_id, "superseded": j.superseded,
            "counted": j.counted, "excluded": j.counted_all and not j.counted, "source": j.source,
            "labeller_role": j.labeller.role, "dataset": dataset.name,
        }


def judgements_jsonl_lines(dataset: Dataset) -> Iterator[str]:
    for row in judgement_rows(dataset):
        yield json.dumps(row, ensure_ascii=False) + "\n"


class _Line:
    """A file-like object whose write() hands back what the CSV writer wrote."""

    def write(self, text):
        return text


def judgements_csv_lines(dataset: Dataset) -> Iterator[str]:
    """The same columns as CSV; prompt and flags are JSON strings, null is empty, and a text a
    spreadsheet would run as a formula starts with an apostrophe (the importer removes it)."""
    writer = formula_safe_writer(_Line())
    yield writer.writerow(JUDGEMENT_FIELDS)
    for row in judgement_rows(dataset):
        yield writer.writerow([_csv_cell(row[k]) for k in JUDGEMENT_FIELDS])


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def export_trl(dataset: Dataset, out: TextIO, *, min_agreement: float = 0.0) -> int:
    """Writes the TRL export to `out`; returns the number of pairs written."""
    return _write(trl_lines(dataset, min_agreement=min_agreement), out)


def export_judgements(dataset: Dataset, out: TextIO, *, fmt: str = "jsonl") -> int:
    """Writes every judgement to `out` as JSON Lines or CSV; returns the number of judgements."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown judgements export format {fmt!r}")
    lines = judgements_jsonl_lines(dataset) if fmt == "jsonl" else judgements_csv_lines(dataset)
    n = _write(lines, out)
    return n - 1 if fmt == "csv" else n


def _write(lines: Iterator[str], out: TextIO) -> int:
    n = 0
    for n, line in enumerate(lines, 1):
        out.write(line)
    return n
