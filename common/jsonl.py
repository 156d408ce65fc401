"""JSONL input files of the command-line entry points (no Django)."""
import json


def read_jsonl(path, keys: tuple[str, ...]) -> list[dict]:
    """The objects of a JSONL file, blank lines skipped. ValueError naming the file and the line
    when a line is not a JSON object holding every one of `keys`."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {n}: not JSON ({exc}).") from exc
            if not isinstance(row, dict) or any(key not in row for key in keys):
                raise ValueError(f"{path} line {n}: expected an object with {', '.join(map(repr, keys))}.")
            rows.append(row)
    return rows
