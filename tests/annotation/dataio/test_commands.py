"""import_data, export_data and seed_demo."""
import gzip
import io
import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from annotation.models import Dataset, ImportBatch, Judgement, Labeller, Pair, Prompt, Rating, Response
from tests.annotation.dataio.helpers import judgement, write_jsonl

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_data_prints_a_summary(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="b2")])
    out, _ = run("import_data", str(path), "--dataset", "d")
    assert "2 lines, 1 new pairs, 2 new judgements, 0 already present, 0 skipped" in out


def test_import_data_rejection_lists_each_error_and_exits_non_zero(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="b2", shown_left="x"), "[]"])
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 invalid line"):
        call_command("import_data", str(path), "--dataset", "d", stderr=err)
    assert "line 2, field shown_left: must be 'a' or 'b' or null" in err.getvalue()
    assert "line 3, field line: must be a JSON object" in err.getvalue()
    assert Pair.objects.count() == 0


def test_import_data_skip_invalid_lists_what_it_skipped(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="b2", shown_left="x")])
    out, _ = run("import_data", str(path), "--dataset", "d", "--skip-invalid", "--format", "judgements")
    assert "skipped: line 2, field shown_left" in out and "1 skipped" in out


def test_import_data_rejects_a_truncated_gzip_even_with_skip_invalid(tmp_path):
    body = gzip.compress(b"".join(f'{{"prompt": "q{i}", "chosen": "a", "rejected": "b"}}\n'.encode()
                                  for i in range(2000)))
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(body[: len(body) // 2])
    err = io.StringIO()
    with pytest.raises(CommandError, match="cannot be read to its end; nothing was imported"):
        call_command("import_data", str(path), "--dataset", "d", "--skip-invalid", stderr=err)
    assert "field file: cannot be read" in err.getvalue()
    assert Pair.objects.count() == 0


@pytest.mark.parametrize("name", ["x" * 201, "bad\udcffname", "   "])
def test_import_data_refuses_a_dataset_name_it_cannot_store(tmp_path, name):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement()])
    with pytest.raises(CommandError, match="dataset name"):
        call_command("import_data", str(path), "--dataset", name)
    assert not Dataset.objects.exists()


def test_import_data_names_a_missing_file():
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_data", "/nonexistent.jsonl", "--dataset", "d")


def test_export_data_writes_both_formats(tmp_path):
    run("import_data", str(write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="b2")])),
        "--dataset", "d")
    _, err = run("export_data", "--dataset", "d", "--format", "trl", "--output", str(tmp_path / "t.jsonl"))
    assert "Wrote 1 pairs" in err
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["chosen"] == [{"role": "assistant", "content": "A answer to p1"}]
    run("export_data", "--dataset", "d", "--format", "judgements", "--csv", "--output", str(tmp_path / "j.csv"))
    assert len((tmp_path / "j.csv").read_text().splitlines()) == 3
    with pytest.raises(CommandError, match="No dataset"):
        call_command("export_data", "--dataset", "nope", "--format", "trl", "--output", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="min-agreement"):
        call_command("export_data", "--dataset", "d", "--format", "trl", "--output", str(tmp_path / "x"),
                     "--min-agreement", "1.5")


def test_seed_demo_imports_both_shipped_files_and_a_second_run_adds_nothing():
    # (the demo AI labeller, which trains a reward model, has its own test: tests/annotation/ai/test_demo.py)
    out, _ = run("seed_demo", "--no-ai-labeller")
    hh = Dataset.objects.get(name="HH harmless (demo)")
    llmfao = Dataset.objects.get(name="LLMFAO crowd judgements (demo)")
    assert hh.pairs.count() == 1000 and hh.overlap_k == 3
    assert llmfao.pairs.count() == 2139 and Judgement.objects.filter(pair__dataset=llmfao).count() == 8931
    ratings = Dataset.objects.get(name="HH harmless ratings (demo)")
    assert ratings.mode == Dataset.Mode.RATE and ratings.rating_items.count() == 198
    assert Rating.objects.filter(item__dataset=ratings, label=True).count() == 99
    for name in ("alice", "bob", "carol"):
        labeller = Labeller.objects.get(user__username=name)
        assert set(labeller.datasets.all()) == {hh, llmfao, ratings}
    assert "alice-demo" in out and "arbiter-admin" in out
    # (with a request, as django-axes' login checks need one)
    admin = authenticate(RequestFactory().post("/accounts/login/"), username="admin", password="arbiter-admin")
    assert admin is not None and admin.is_superuser and admin.labeller.role == Labeller.Role.ADMIN
    tables = (get_user_model(), Labeller, Dataset, Prompt, Response, Pair, Judgement, ImportBatch, Rating)
    before = [m.objects.count() for m in tables]
    out, _ = run("seed_demo", "--no-ai-labeller")
    assert [m.objects.count() for m in tables] == before
    assert "already imported" in out
