import gzip
import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile


def write_jsonl(path: Path, rows, *, gz: bool = False) -> Path:
    """Writes rows (dicts, or raw strings written as they are) one a line."""
    text = "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def jsonl_upload(rows, name="up.jsonl") -> SimpleUploadedFile:
    """The rows as a file uploaded through a form (dicts as JSON, raw strings as they are)."""
    return SimpleUploadedFile(name, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode())


def hh(prompt: str, chosen: str, rejected: str) -> dict:
    return {"chosen": f"\n\nHuman: {prompt}\n\nAssistant: {chosen}",
            "rejected": f"\n\nHuman: {prompt}\n\nAssistant: {rejected}"}


def judgement(pair_id="p1", annotator="ann-1", choice="a", **extra) -> dict:
    row = {"pair_id": pair_id, "prompt": f"Prompt of {pair_id}?", "response_a": f"A answer to {pair_id}",
           "response_b": f"B answer to {pair_id}", "model_a": "model-x", "model_b": "model-y",
           "annotator": annotator, "choice": choice}
    row.update(extra)
    return row
