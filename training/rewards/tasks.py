"""Task datasets for training against verifiable rewards: prompts with a reference answer.

A task file is JSONL, one task a line:
    {"id": "arith-0001", "prompt": "7 + 5 =", "reference": "12", "checker": "numeric", "split": "train"}
- id: unique within the file (a string);
- prompt: the text the policy continues;
- reference: what the checker compares with: the answer for "exact" and "numeric" (checked to
  be a number when the file is loaded), the tests' Python source for "code_tests";
- checker: which checker verifies the reference, one of REFERENCE_CHECKERS;
- split: "train" or "held_out" (held-out tasks are never trained on, only evaluated).
The shipped demo, data/demo/arithmetic-tasks.jsonl, is made by scripts/make_arithmetic_tasks.py.
"""
import json
from dataclasses import dataclass
from pathlib import Path

from training.rewards.checkers import parse_reference_number

REFERENCE_CHECKERS = ("exact", "numeric", "code_tests")
SPLITS = ("train", "held_out")
FIELDS = ("id", "prompt", "reference", "checker", "split")


@dataclass(frozen=True)
class Task:
    id: str
    prompt: str
    reference: str
    checker: str
    split: str


def _task(line: str, where: str) -> Task:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON ({exc}).") from exc
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a task must be a JSON object.")
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}.")
    wrong_type = [f for f in FIELDS if not isinstance(record[f], str) or not record[f].strip()]
    if wrong_type:
        raise ValueError(f"{where}: {', '.join(wrong_type)} must be non-empty strings.")
    if record["checker"] not in REFERENCE_CHECKERS:
        raise ValueError(f"{where}: checker must be one of {', '.join(REFERENCE_CHECKERS)}; got {record['checker']!r}.")
    if record["split"] not in SPLITS:
        raise ValueError(f"{where}: split must be one of {', '.join(SPLITS)}; got {record['split']!r}.")
    if record["checker"] == "numeric":
        try:
            parse_reference_number(record["reference"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
    return Task(**{f: record[f] for f in FIELDS})


def load_tasks(path, *, split: str | None = None) -> list[Task]:
    """The tasks of a JSONL file (blank lines skipped), optionally of one split; ValueError naming
    the file and line of the first bad task, or a repeated id."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    tasks, seen = [], set()
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            task = _task(line, f"{path} line {number}")
            if task.id in seen:
                raise ValueError(f"{path} line {number}: id {task.id!r} is used by an earlier task.")
            seen.add(task.id)
            tasks.append(task)
    return [t for t in tasks if split is None or t.split == split]
