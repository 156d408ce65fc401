"""Task datasets for training against verifiable rewards: prompts with a reference answer.

A task file is JSONL, one task a line:
    {"id": "arith-0001", "prompt": "7 + 5 =", "reference": "12", "checker": "numeric", "split": "train"}
- prompt: the text the policy continues, or a list of chat messages [{"role", "content"}, ...]
  (rendered like every policy prompt, training/text.py's `render_prompt`);
- reference: what the checker compares with, by checker:
    "exact"      the answer text (compared after normalisation);
    "numeric"    the answer, a number or a string stating one ("42", "-3/4"): checked to be one;
    "regex"      a regular expression the whole completion must match: checked to compile;
    "json_schema" a JSON schema (an object, or a string holding one) the completion's JSON must
                 satisfy: checked to be a valid schema;
    "code_tests" the tests' Python source, run against the completion's code in the sandbox;
- checker: one of REFERENCE_CHECKERS;
- id: unique within the file (a string; default "line-N");
- split: "train" (default) or "held_out" (held-out tasks are never trained on, only evaluated).
Every problem is reported as a `TaskInvalid` naming the field, and by `load_tasks` with its line.
The shipped demo, data/demo/arithmetic-tasks.jsonl, is made by scripts/make_arithmetic_tasks.py.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path

from training.rewards.checkers import compile_format, json_schema_validator, parse_reference_number

REFERENCE_CHECKERS = ("exact", "numeric", "regex", "json_schema", "code_tests")
SPLITS = ("train", "held_out")
FIELDS = ("id", "prompt", "reference", "checker", "split")
REQUIRED = ("prompt", "reference", "checker")
ROLES = ("system", "user", "assistant")
MAX_ID = 200


@dataclass(frozen=True)
class Task:
    id: str
    prompt: str | list
    """Text, or a list of {"role", "content"} messages."""
    reference: str
    checker: str
    split: str

    @property
    def prompt_text(self) -> str:
        """What the policy continues: the text itself, or the messages rendered."""
        if isinstance(self.prompt, str):
            return self.prompt
        from training.text import render_prompt

        return render_prompt(self.prompt)


class TaskInvalid(ValueError):
    """The first thing wrong with one task, naming its field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _prompt(value) -> str | list:
    if isinstance(value, str):
        if not value.strip():
            raise TaskInvalid("prompt", "must not be empty")
        return value
    if not isinstance(value, list) or not value:
        raise TaskInvalid("prompt", "must be a non-empty string or a non-empty list of {role, content} messages")
    for i, message in enumerate(value):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise TaskInvalid("prompt", f"message {i} must be an object with exactly role and content")
        if message["role"] not in ROLES:
            raise TaskInvalid("prompt", f"message {i}: role must be one of {', '.join(ROLES)}; got {message['role']!r}")
        if not isinstance(message["content"], str) or not message["content"].strip():
            raise TaskInvalid("prompt", f"message {i}: content must be a non-empty string")
    return value


def _reference(value, checker: str) -> str:
    """The reference as stored (text), checked for its checker."""
    if checker == "json_schema" and isinstance(value, dict):
        value = json.dumps(value)
    if checker == "numeric" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        what = "a number or a string" if checker == "numeric" else (
            "an object or a string" if checker == "json_schema" else "a non-empty string")
        raise TaskInvalid("reference", f"must be {what} for the {checker} checker; got {json.dumps(value)[:80]}")
    try:
        if checker == "numeric":
            parse_reference_number(value)
        elif checker == "regex":
            compile_format(value)
        elif checker == "json_schema":
            try:
                schema = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"is not JSON ({exc})") from exc
            json_schema_validator(schema)
    except ValueError as exc:
        raise TaskInvalid("reference", str(exc)) from exc
    return value


def parse_task(record, *, line: int | None = None) -> Task:
    """One decoded task (this module's docstring) -> a Task; TaskInvalid naming the first bad field."""
    if not isinstance(record, dict):
        raise TaskInvalid("(line)", "a task must be a JSON object")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise TaskInvalid(unknown[0], f"is not a task field (the fields are {', '.join(FIELDS)})")
    for name in REQUIRED:
        if name not in record:
            raise TaskInvalid(name, "is missing")
    checker = record["checker"]
    if checker not in REFERENCE_CHECKERS:
        raise TaskInvalid("checker", f"must be one of {', '.join(REFERENCE_CHECKERS)}; got {json.dumps(checker)[:80]}")
    task_id = record.get("id", f"line-{line}" if line is not None else None)
    if not isinstance(task_id, str) or not task_id.strip() or len(task_id) > MAX_ID:
        raise TaskInvalid("id", f"must be a non-empty string of at most {MAX_ID} characters")
    split = record.get("split", "train")
    if split not in SPLITS:
        raise TaskInvalid("split", f"must be one of {', '.join(SPLITS)}; got {json.dumps(split)[:80]}")
    return Task(id=task_id, prompt=_prompt(record["prompt"]), reference=_reference(record["reference"], checker),
                checker=checker, split=split)


def parse_task_lines(lines) -> tuple[list[Task], list[tuple[int, str, str]]]:
    """(tasks, errors) of JSONL lines (blank lines skipped): each error (line number, field,
    message); a repeated id is an error of the later line."""
    tasks, errors, seen = [], [], set()
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            errors.append((number, "(line)", f"not JSON ({exc})"))
            continue
        try:
            task = parse_task(record, line=number)
        except TaskInvalid as exc:
            errors.append((number, exc.field, exc.message))
            continue
        if task.id in seen:
            errors.append((number, "id", f"{task.id!r} is used by an earlier task"))
            continue
        seen.add(task.id)
        tasks.append(task)
    return tasks, errors


def load_tasks(path, *, split: str | None = None) -> list[Task]:
    """The tasks of a JSONL file, optionally of one split; ValueError naming the file, line and
    field of the first bad task, or a repeated id."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    with Path(path).open(encoding="utf-8") as f:
        tasks, errors = parse_task_lines(f)
    if errors:
        number, field, message = errors[0]
        raise ValueError(f"{path} line {number}, field {field}: {message.rstrip('.')}.")
    return [t for t in tasks if split is None or t.split == split]
