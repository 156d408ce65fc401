"""Hostile import files: each gives a clear error naming its line and field (or fails the whole file
when the file itself is broken), never a traceback; nothing is written on rejection."""
import csv
import gzip
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.dataio.exports import JUDGEMENT_FIELDS, export_judgements
from annotation.dataio.fields import MAX_DEPTH, MAX_TEXT_CHARS, storable_tree, within_bounds
from annotation.dataio.records import LineInvalid
from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, ImportBatch, Judgement, Pair, Response
from tests.annotation.dataio.helpers import judgement, write_jsonl
from tests.factories import JudgementFactory, PairFactory

pytestmark = pytest.mark.django_db

GOOD = judgement(pair_id="good")
# (raw second line, the field its error names)
HOSTILE_LINES = {
    "deep nesting": ('{"pair_id": "x", "extra": ' + "[" * 1000 + "]" * 1000 + "}", "extra"),
    "NUL": ('{"pair_id": "x", "prompt": "q", "response_a": "a\\u0000", "response_b": "b", "annotator": "n", '
            '"choice": "a"}', "response_a"),
    "lone surrogate": ('{"pair_id": "x", "prompt": "q\\ud800", "response_a": "a", "response_b": "b", '
                       '"annotator": "n", "choice": "a"}', "prompt"),
    "huge integer in an ignored field": ('{"pair_id": "x", "ignored": ' + "9" * 5000 + "}", "ignored"),
    "NUL in a key": ('{"pair_id": "x", "a\\u0000b": 1}', "a\\x00b"),
    "nesting the parser reads": ('{"pair_id": "x", "extra": {"k": ' + "[" * 40 + "]" * 40 + "}}", "extra"),
    "NUL in a message": ('{"pair_id": "x", "prompt": [{"role": "user", "content": "\\u0000"}], "response_a": "a", '
                         '"response_b": "b", "annotator": "n", "choice": "a"}', "prompt[0].content"),
}


@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_a_hostile_line_is_rejected_naming_its_line_and_field(tmp_path, name):
    raw, field = HOSTILE_LINES[name]
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [GOOD, raw]))
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, field)]
    assert not Dataset.objects.exists() and Pair.objects.count() == 0


@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_skip_invalid_skips_exactly_the_hostile_line(tmp_path, name):
    raw, field = HOSTILE_LINES[name]
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [GOOD, raw, judgement(pair_id="also")]),
                        skip_invalid=True)
    assert batch.status == ImportBatch.Status.SUCCEEDED and batch.n_pairs_created == 2
    assert [(e["line"], e["field"]) for e in batch.errors] == [(2, field)]


def nested_lists(levels: int):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_nesting_is_read_up_to_the_bound_and_no_deeper():
    deepest, too_deep = {"k": nested_lists(MAX_DEPTH - 1)}, {"ok": [], "k": nested_lists(MAX_DEPTH)}
    assert (within_bounds(deepest), within_bounds(too_deep)) == (True, False)  # the line's object is level 1
    storable_tree(deepest)
    with pytest.raises(LineInvalid) as caught:
        storable_tree(too_deep)
    assert caught.value.field == "k"


def test_a_text_longer_than_the_bound_is_rejected_naming_its_field(tmp_path):
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [
            judgement(rationale="x" * (MAX_TEXT_CHARS + 1))]))
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "rationale")]


def test_a_corrupt_gzip_body_rejects_the_file_even_with_skip_invalid(tmp_path):
    body = bytearray(gzip.compress(b"".join(
        (f'{{"prompt": "q{i}", "chosen": "a", "rejected": "b"}}\n').encode() for i in range(50))))
    body[15:25] = b"\xff" * 10  # inside the deflate stream
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(bytes(body))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=path, skip_invalid=True)
    assert [e.field for e in caught.value.errors] == ["file"]
    assert not Dataset.objects.exists() and Pair.objects.count() == 0


def test_a_truncated_gzip_imports_nothing_even_with_skip_invalid(tmp_path):
    lines = b"".join(f'{{"prompt": "q{i}", "chosen": "a", "rejected": "b"}}\n'.encode() for i in range(2000))
    body = gzip.compress(lines)
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=path, skip_invalid=True)
    assert [e.field for e in caught.value.errors] == ["file"]
    assert not Dataset.objects.exists() and Pair.objects.count() == 0


def test_skip_invalid_with_no_valid_line_fails_and_creates_no_dataset(tmp_path):
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", ["{", judgement(choice="maybe")]),
                    skip_invalid=True)
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "line"), (2, "choice")]
    assert not Dataset.objects.exists() and ImportBatch.objects.count() == 0


def csv_export(dataset) -> str:
    buffer = io.StringIO()
    export_judgements(dataset, buffer, fmt="csv")
    return buffer.getvalue()


def test_a_csv_cell_longer_than_csv_default_limit_round_trips_with_the_rows_after_it(tmp_path):
    long_text = "long " * 40_000  # 200,000 characters; csv's default limit is 131,072
    first = PairFactory(response_a__text=long_text)
    JudgementFactory(pair=first)
    JudgementFactory(pair=PairFactory(dataset=first.dataset))
    path = tmp_path / "e.csv"
    path.write_text(csv_export(first.dataset), newline="")
    batch = import_file(dataset_name="copy", file=path)
    assert batch.n_pairs_created == 2 and batch.n_judgements_created == 2
    assert Response.objects.filter(prompt__dataset__name="copy", text=long_text).count() == 1


def test_an_invalid_utf8_byte_in_one_csv_row_names_that_row_and_skips_only_it(tmp_path):
    first = PairFactory(response_a__text="two\nlines")
    JudgementFactory(pair=first)
    for _ in range(3):
        JudgementFactory(pair=PairFactory(dataset=first.dataset, response_a__text="two\nlines"))
    lines = csv_export(first.dataset).encode().split(b"\n")  # header, then each row on two lines
    lines[6] = lines[6].replace(b"lines", b"lin\xffes")  # the second line of the third row (lines 6-7)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="copy", file=path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(6, "line")]
    batch = import_file(dataset_name="copy", file=path, skip_invalid=True)
    assert batch.n_pairs_created == 3
    assert [(e["line"], e["severity"]) for e in batch.errors] == [(6, "error")]


def test_a_csv_row_that_csv_cannot_parse_rejects_the_file_from_its_line_even_with_skip_invalid(tmp_path):
    first = PairFactory()
    JudgementFactory(pair=first)
    JudgementFactory(pair=PairFactory(dataset=first.dataset))
    lines = csv_export(first.dataset).encode().split(b"\r\n")
    lines[2] = lines[2].replace(b",", b",x\ry", 1)  # a bare carriage return in an unquoted cell
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="copy", file=path, skip_invalid=True)
    assert [(e.line, e.field) for e in caught.value.errors] == [(3, "file")]
    assert not Dataset.objects.filter(name="copy").exists()


def test_a_csv_header_that_csv_cannot_parse_is_a_clear_error(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"pair_id,prompt,response_a\rp1,q,a\r")  # old Mac line ends: one line to us
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "file")]


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1", "-1+2", "@SUM(A1)", "\tx", "\rx",
            "'quoted", "'=already quoted", "plain"]


def test_the_judgements_csv_neutralises_formulas_in_every_text_cell():
    pair = PairFactory(response_a__text="=1+1", response_b__source="@model", external_id="-id")
    JudgementFactory(pair=pair, rationale='=HYPERLINK("http://evil.example","click")')
    row = dict(zip(JUDGEMENT_FIELDS, list(csv.reader(io.StringIO(csv_export(pair.dataset))))[1]))
    assert (row["response_a"], row["model_b"], row["pair_id"], row["rationale"]) == (
        "'=1+1", "'@model", "'-id", """'=HYPERLINK("http://evil.example","click")""")


def test_the_judgements_csv_reads_neutralised_cells_back_exactly(tmp_path):
    pair = PairFactory(response_a__text=FORMULAS[0], response_b__text=FORMULAS[6])
    for text in FORMULAS:
        JudgementFactory(pair=pair, rationale=text)
    path = tmp_path / "e.csv"
    path.write_text(csv_export(pair.dataset), newline="")
    import_file(dataset_name="copy", file=path)
    copied = Pair.objects.select_related("response_a", "response_b").get(dataset__name="copy")
    assert (copied.response_a.text, copied.response_b.text) == (FORMULAS[0], FORMULAS[6])
    assert sorted(Judgement.objects.filter(pair=copied).values_list("rationale", flat=True)) == sorted(FORMULAS)


def test_the_upload_api_answers_400_naming_line_and_field_for_a_nul(admin_client):
    body = ('{"prompt": "q", "chosen": "a", "rejected": "b"}\n'
            '{"prompt": "q\\u0000", "chosen": "a", "rejected": "b"}\n').encode()
    response = admin_client.post("/api/imports/create/", {"file": SimpleUploadedFile("f.jsonl", body),
                                                          "dataset": "d"})
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(2, "prompt")]
    assert Pair.objects.count() == 0
