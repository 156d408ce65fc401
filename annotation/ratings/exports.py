"""Export of ratings in TRL's unpaired preference format, streamed: conversational, one rating a
line, `{"prompt": [messages], "completion": [{"role": "assistant", ...}], "label": bool}`, plus
what the importer reads back (annotator, id, model, rationale, flags, created_at, time_ms,
is_repeat, gold_label) and what only Arbiter knows (rating_id, counted, excluded, dataset).

By default only the ratings that count (ratings_counted: current first ratings, exclusions
honoured), the rows KTO trains on; `everything` adds planned repeats and excluded labellers'
ratings, marked. Superseded revisions are never written."""
import json
from collections.abc import Iterator
from typing import TextIO

from django.db.models import Exists, OuterRef

from annotation.dataio.exports import _csv_cell, _Line, _write
from annotation.models import Dataset, Rating
from annotation.ratings.selectors import ratings_counted
from common.csv import formula_safe_writer

CHUNK = 500
RATING_FIELDS = [
    "prompt", "completion", "label", "annotator", "id", "model", "rationale", "flags", "created_at", "time_ms",
    "is_repeat", "gold_label",
    "rating_id", "counted", "excluded", "dataset",
]


def rating_rows(dataset: Dataset, *, everything: bool = False) -> Iterator[dict]:
    counted = ratings_counted(dataset_id=dataset.pk).filter(pk=OuterRef("pk"))
    rows = (Rating.objects.filter(item__dataset=dataset, superseded=False)
            .select_related("item__response__prompt", "labeller__user")
            .annotate(counted=Exists(counted)).order_by("item_id", "created_at", "id"))
    if not everything:
        rows = rows.filter(counted=True)
    for r in rows.iterator(chunk_size=CHUNK):
        response = r.item.response
        yield {
            "prompt": response.prompt.messages,
            "completion": [{"role": "assistant", "content": response.text}],
            "label": r.label, "annotator": r.labeller.user.username,
            "id": r.item.external_id or f"arbiter-response-{r.item_id}", "model": response.source,
            "rationale": r.rationale, "flags": r.flags, "created_at": r.created_at.isoformat(), "time_ms": r.time_ms,
            "is_repeat": r.is_repeat, "gold_label": r.item.gold_label,
            "rating_id": r.pk, "counted": r.counted, "excluded": not r.counted and not r.is_repeat,
            "dataset": dataset.name,
        }


def export_ratings(dataset: Dataset, out: TextIO, *, fmt: str = "jsonl", everything: bool = False) -> int:
    """Writes the ratings to `out` as JSON Lines or CSV (prompt, completion and flags as JSON
    cells, null empty, formulas defused); returns the number of ratings written."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown ratings export format {fmt!r}")
    rows = rating_rows(dataset, everything=everything)
    if fmt == "jsonl":
        return _write((json.dumps(row, ensure_ascii=False) + "\n" for row in rows), out)
    return _write(ratings_csv_lines(rows), out) - 1


def ratings_csv_lines(rows) -> Iterator[str]:
    writer = formula_safe_writer(_Line())
    yield writer.writerow(RATING_FIELDS)
    for row in rows:
        yield writer.writerow([_csv_cell(row[k]) for k in RATING_FIELDS])


def ratings_lines(dataset: Dataset, *, fmt: str = "jsonl", everything: bool = False) -> Iterator[str]:
    """The export's lines, for the streamed download."""
    rows = rating_rows(dataset, everything=everything)
    if fmt == "csv":
        return ratings_csv_lines(rows)
    return (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
