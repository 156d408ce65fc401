"""Importing checkable tasks into a TaskSet: the service, `import_data --task-set`, the Data page
upload and the demo loader. Every line is checked before anything is written."""
import gzip
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from common.exceptions import ApplicationError
from training.models import Task, TaskSet
from training.services import TaskImportRejected, task_set_import

pytestmark = pytest.mark.django_db
DEMO_TASKS = Path(__file__).resolve().parents[2] / "data" / "demo" / "arithmetic-tasks.jsonl"
GOOD = [
    {"id": "sum", "prompt": "2 + 2 =", "reference": "4", "checker": "numeric"},
    {"id": "chat", "prompt": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}],
     "reference": "Paris", "checker": "exact", "split": "held_out"},
    {"id": "fmt", "prompt": "Say a year:", "reference": "\\s*\\d{4}", "checker": "regex"},
    {"id": "json", "prompt": "Give JSON:", "reference": {"type": "object", "required": ["a"]}, "checker": "json_schema"},
    {"prompt": "def add(a, b):", "reference": "assert add(1, 2) == 3", "checker": "code_tests", "split": "held_out"},
    {"id": "num", "prompt": "6 * 7 =", "reference": 42, "checker": "numeric"},
]


@pytest.fixture
def arbiter_admin(client):
    from tests.factories import AdminLabellerFactory

    client.force_login(AdminLabellerFactory().user)
    return client


def lines(*records) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) + "\n" for r in records]


def test_a_good_file_becomes_a_task_set_with_every_field():
    task_set = task_set_import(name="mixed", lines=lines(*GOOD), source_filename="mixed.jsonl")
    rows = {t.external_id: t for t in task_set.tasks.all()}
    assert set(rows) == {"sum", "chat", "fmt", "json", "line-5", "num"}
    assert rows["chat"].prompt == GOOD[1]["prompt"] and rows["chat"].split == "held_out"
    assert json.loads(rows["json"].reference) == GOOD[3]["reference"]
    assert rows["num"].reference == "42" and rows["sum"].split == "train"
    assert rows["line-5"].checker == "code_tests"


@pytest.mark.parametrize("bad, field, message", [
    ("{not json", "(line)", "not JSON"),
    ({"prompt": "x", "reference": "1"}, "checker", "is missing"),
    ({"prompt": "x", "reference": "1", "checker": "bleu"}, "checker", "must be one of"),
    ({"prompt": "", "reference": "1", "checker": "exact"}, "prompt", "must not be empty"),
    ({"prompt": [{"role": "user"}], "reference": "1", "checker": "exact"}, "prompt", "role and content"),
    ({"prompt": "x", "reference": "one", "checker": "numeric"}, "reference", "is not a number"),
    ({"prompt": "x", "reference": "([", "checker": "regex"}, "reference", "not a valid regular expression"),
    ({"prompt": "x", "reference": "{\"type\": 5}", "checker": "json_schema"}, "reference", "JSON schema is invalid"),
    ({"prompt": "x", "reference": "1", "checker": "exact", "split": "test"}, "split", "must be one of"),
    ({"id": "sum", "prompt": "x", "reference": "1", "checker": "exact"}, "id", "used by an earlier task"),
    ({"prompt": "x", "reference": "1", "checker": "exact", "answer": 1}, "answer", "is not a task field"),
])
def test_each_bad_field_is_named_with_its_line_and_nothing_is_written(bad, field, message):
    with pytest.raises(TaskImportRejected) as caught:
        task_set_import(name="bad", lines=lines(GOOD[0], "\n", bad))
    [(line, named, text)] = caught.value.errors
    assert (line, named) == (3, field) and message in text
    assert not TaskSet.objects.exists() and not Task.objects.exists()


def test_every_bad_line_is_listed_not_only_the_first():
    with pytest.raises(TaskImportRejected) as caught:
        task_set_import(name="bad", lines=lines({"prompt": "x"}, GOOD[0], "[]"))
    assert [(line, field) for line, field, _ in caught.value.errors] == [(1, "reference"), (3, "(line)")]


def test_a_task_set_name_is_taken_once():
    task_set_import(name="once", lines=lines(GOOD[0]))
    with pytest.raises(ApplicationError, match="already exists"):
        task_set_import(name="once", lines=lines(GOOD[1]))
    assert Task.objects.count() == 1


def test_import_data_loads_the_shipped_demo_tasks_with_their_splits(capsys):
    call_command("import_data", str(DEMO_TASKS), "--task-set", "arith", "--format", "tasks")
    assert "320 train and 80 held-out tasks" in capsys.readouterr().out
    task_set = TaskSet.objects.get(name="arith")
    assert task_set.tasks.filter(split="held_out").count() == 80 and task_set.source_filename == "arithmetic-tasks.jsonl"


def test_import_data_reads_gzip_and_names_each_bad_line(tmp_path, capsys):
    path = tmp_path / "tasks.jsonl.gz"
    path.write_bytes(gzip.compress("".join(lines(GOOD[0], {"prompt": "x", "reference": "1", "checker": "?"})).encode()))
    with pytest.raises(CommandError, match="1 bad line"):
        call_command("import_data", str(path), "--task-set", "gz")
    assert "line 2, field checker: must be one of" in capsys.readouterr().err
    assert not TaskSet.objects.exists()


def test_the_data_page_lists_task_sets_with_counts_per_split(arbiter_admin):
    task_set_import(name="listed <b>", lines=lines(*GOOD))
    page = arbiter_admin.get(reverse("dataio:home")).content.decode()
    assert "Task sets (for GRPO)" in page and "listed &lt;b&gt;" in page
    row = page[page.index("listed &lt;b&gt;"):]
    assert '<td class="num">4</td><td class="num">2</td>' in row


def test_the_data_page_upload_imports_a_task_file(arbiter_admin):
    upload = io.BytesIO("".join(lines(*GOOD)).encode())
    upload.name = "mine.jsonl"
    response = arbiter_admin.post(reverse("dataio:task-set-import"), {"file": upload, "name": "uploaded"})
    assert response.status_code == 302
    assert TaskSet.objects.get(name="uploaded").tasks.count() == len(GOOD)


def test_the_data_page_upload_shows_each_bad_line_and_writes_nothing(arbiter_admin):
    upload = io.BytesIO("".join(lines(GOOD[0], {"prompt": "x", "reference": "nan-ish", "checker": "numeric"})).encode())
    upload.name = "bad.jsonl"
    response = arbiter_admin.post(reverse("dataio:task-set-import"), {"file": upload, "name": "rejected"})
    page = response.content.decode()
    assert response.status_code == 400 and "Nothing was imported" in page
    assert '<td class="num">2</td><td class="field">reference</td>' in page
    assert not TaskSet.objects.exists()


def test_the_demo_loader_loads_the_arithmetic_task_set_once():
    from annotation.dataio.demo import DEMO_TASK_SET, DemoSeedResult, _demo_task_set
    from annotation.dataio.demo import DEMO_DIR

    first, again = DemoSeedResult(), DemoSeedResult()
    _demo_task_set(DEMO_DIR, first)
    _demo_task_set(DEMO_DIR, again)
    assert first.task_sets == [DEMO_TASK_SET["name"]] and again.already_there == [DEMO_TASK_SET["name"]]
    assert TaskSet.objects.get(name=DEMO_TASK_SET["name"]).tasks.count() == 400
