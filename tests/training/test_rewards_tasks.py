"""Task files and the shipped arithmetic demo task set."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.rewards.checkers import numeric_match
from training.rewards.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data/demo/arithmetic-tasks.jsonl"


def test_the_shipped_arithmetic_tasks_regenerate_identically(tmp_path):
    out = tmp_path / "tasks.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts/make_arithmetic_tasks.py"), "--seed", "0", "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_the_held_out_split_asks_no_training_question():
    train, held_out = load_tasks(SHIPPED, split="train"), load_tasks(SHIPPED, split="held_out")
    assert (len(train), len(held_out)) == (320, 80)
    assert not {t.prompt for t in train} & {t.prompt for t in held_out}


def test_every_shipped_reference_is_the_answer_to_its_prompt():
    for task in load_tasks(SHIPPED):
        a, op, b, _ = task.prompt.split()
        answer = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        assert numeric_match(f"#### {answer}", task.reference).reward == 1.0, task


def write(tmp_path, *records) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


TASK = {"id": "t1", "prompt": "1 + 1 =", "reference": "2", "checker": "numeric", "split": "train"}


@pytest.mark.parametrize("bad, message", [
    ("{not json", r"line 2, field \(line\): not JSON"),
    ({**TASK, "id": "t2", "checker": "bleu"}, "line 2, field checker: must be one of"),
    ({**TASK, "id": "t2", "split": "test"}, "line 2, field split: must be one of"),
    ({k: v for k, v in TASK.items() if k != "reference"} | {"id": "t2"}, "line 2, field reference: is missing"),
    ({**TASK, "id": "t2", "reference": ["2"]}, "line 2, field reference: must be a number or a string"),
    (TASK, "line 2, field id: 't1' is used by an earlier task"),
    ({**TASK, "id": "t2", "reference": "two"}, "line 2, field reference: The reference 'two' is not a number"),
    ({**TASK, "id": "t2", "checker": "regex", "reference": "(unclosed"}, "line 2, field reference: .*not a valid regular"),
    ({**TASK, "id": "t2", "checker": "json_schema", "reference": {"type": 3}}, "line 2, field reference: The JSON schema is invalid"),
    ({**TASK, "id": "t2", "prompt": [{"role": "robot", "content": "hi"}]}, "line 2, field prompt: message 0: role"),
    ({**TASK, "id": "t2", "answer": "2"}, "line 2, field answer: is not a task field"),
])
def test_a_bad_task_line_is_named(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        load_tasks(write(tmp_path, TASK, bad))


def test_the_script_refuses_more_tasks_than_distinct_questions(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts/make_arithmetic_tasks.py"), "--n", "100000",
                           "--out", str(tmp_path / "x.jsonl")], capture_output=True, text=True)
    assert done.returncode == 2 and "distinct questions" in done.stderr
