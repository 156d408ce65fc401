import gzip
import io
import json

import pytest
from django.core.management import call_command

from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, ImportBatch, LabellerExclusion, Rating, RatingItem
from annotation.ratings.exports import export_ratings
from annotation.ratings.selectors import ratings_for_training
from common.exceptions import ApplicationError
from tests.annotation.dataio.helpers import jsonl_upload, write_jsonl
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def row(prompt="What is 2+2?", completion="4", label=True, **extra) -> dict:
    return {"prompt": prompt, "completion": completion, "label": label, **extra}


ROWS = [
    row(annotator="ann-1"),
    row(annotator="ann-2", label=False, rationale="=SUM(A1) too terse", flags=["unhelpful_refusal"]),
    row(prompt=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Name a colour"}],
        completion=[{"role": "assistant", "content": "Blue, or -red"}], label=True, annotator="ann-1", model="m-1",
        id="c-1", time_ms=1200, created_at="2026-01-02T03:04:05+00:00"),
    row(prompt="Say hi", completion="", label=False),  # no annotator: trl-imported; empty: a warning
    row(prompt="Gold?", completion="Yes", label=True, annotator="ann-2", gold_label=True),
]


def test_an_unpaired_file_creates_a_rate_dataset_with_its_responses_and_ratings(tmp_path):
    batch = import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "r.jsonl", ROWS))
    dataset = Dataset.objects.get(name="thumbs")
    assert dataset.mode == Dataset.Mode.RATE and batch.format == "unpaired"
    assert (batch.n_rating_items_created, batch.n_ratings_created) == (4, 5)
    assert [i["field"] for i in batch.errors] == ["completion"]  # the empty one, a warning
    item = RatingItem.objects.get(response__text="Blue, or -red")
    assert item.response.prompt.messages[0] == {"role": "system", "content": "Be brief."}
    assert (item.response.source, item.external_id) == ("m-1", "c-1")
    assert RatingItem.objects.get(response__text="Yes").gold_label is True
    assert RatingItem.objects.get(response__text="4").n_ratings == 2
    assert set(dataset.labellers.values_list("user__username", flat=True)) == {"ann-1", "ann-2", "trl-imported"}


def test_importing_the_same_file_again_adds_nothing(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", ROWS)
    import_file(dataset_name="thumbs", file=path)
    again = import_file(dataset_name="thumbs", file=path)
    assert (again.n_rating_items_created, again.n_ratings_created, again.n_duplicates) == (0, 0, 5)
    assert Rating.objects.count() == 5


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_imported_into_an_empty_dataset_gives_back_the_same_ratings(tmp_path, fmt):
    import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "r.jsonl", ROWS))
    out = io.StringIO()
    assert export_ratings(Dataset.objects.get(name="thumbs"), out, fmt=fmt) == 5
    (tmp_path / f"e.{fmt}").write_text(out.getvalue())
    batch = import_file(dataset_name="copy", file=tmp_path / f"e.{fmt}")
    assert batch.format == "unpaired" and batch.n_ratings_created == 5

    def seen(name):
        rows = ratings_for_training(dataset_id=Dataset.objects.get(name=name).pk)
        return sorted((json.dumps(r["prompt_messages"]), r["completion"], r["label"]) for r in rows)

    assert seen("copy") == seen("thumbs")
    kept = Rating.objects.get(item__dataset__name="copy", rationale__startswith="=SUM")
    assert kept.flags == ["unhelpful_refusal"]  # the formula-looking rationale survives the CSV exactly


def test_the_csv_export_defuses_spreadsheet_formulas(tmp_path):
    import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "r.jsonl", ROWS))
    out = io.StringIO()
    export_ratings(Dataset.objects.get(name="thumbs"), out, fmt="csv")
    assert "'=SUM(A1) too terse" in out.getvalue()


def test_the_export_is_trl_unpaired_conversational_and_leaves_out_what_does_not_count(tmp_path):
    rows = ROWS + [row(annotator="ann-1", label=False, is_repeat=True)]
    import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "r.jsonl", rows))
    dataset = Dataset.objects.get(name="thumbs")
    LabellerExclusion.objects.create(labeller=Rating.objects.filter(labeller__user__username="ann-2").first().labeller,
                                     dataset=dataset, reason="spam")
    out = io.StringIO()
    n = export_ratings(dataset, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(lines) == 3  # ann-1 twice (not the repeat), trl-imported once; ann-2 excluded
    assert all(isinstance(x["prompt"], list) and x["completion"][0]["role"] == "assistant" for x in lines)
    assert all(isinstance(x["label"], bool) for x in lines)
    everything = io.StringIO()
    assert export_ratings(dataset, everything, everything=True) == 6


@pytest.mark.parametrize("bad, field", [
    (row(label="yes"), "label"),
    ({"prompt": "x", "completion": "y"}, "line"),  # no label: not recognisable as unpaired, see next test
    (row(prompt=""), "prompt"),
    (row(completion=[{"role": "user", "content": "x"}]), "completion"),
    (row(flags=["rude"]), "flags"),
    (row(annotator="bad name!"), "annotator"),
    (row(time_ms=-1), "time_ms"),
    (row(created_at="yesterday"), "created_at"),
    (row(gold_label="up"), "gold_label"),
])
def test_a_bad_line_rejects_the_file_naming_its_line_and_field(tmp_path, bad, field):
    if field == "line":
        bad, field = row(label=None), "label"
    path = write_jsonl(tmp_path / "r.jsonl", [row(annotator="ok"), bad])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="thumbs", file=path, format="unpaired")
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, field)]
    assert not Dataset.objects.filter(name="thumbs").exists() and not Rating.objects.exists()


def test_skip_invalid_imports_the_good_lines(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [row(annotator="ok"), row(label="maybe"), "not json"])
    batch = import_file(dataset_name="thumbs", file=path, format="unpaired", skip_invalid=True)
    assert batch.n_ratings_created == 1
    assert sorted((i["line"], i["field"]) for i in batch.errors) == [(2, "label"), (3, "line")]


def test_the_same_annotator_rating_one_response_both_ways_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [row(annotator="a1"), row(annotator="a1", label=False)])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="thumbs", file=path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "label")]


def test_a_rating_that_contradicts_one_already_in_the_dataset_is_an_error(tmp_path):
    import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "a.jsonl", [row(annotator="a1")]))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="thumbs", file=write_jsonl(tmp_path / "b.jsonl", [row(annotator="a1", label=False)]))
    assert "already rated" in caught.value.errors[0].message
    assert ImportBatch.objects.filter(status=ImportBatch.Status.FAILED).count() == 1


def test_conflicting_gold_labels_are_an_error(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [row(annotator="a1", gold_label=True),
                                              row(annotator="a2", gold_label=False)])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="thumbs", file=path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "gold_label")]


def test_ratings_are_refused_by_a_compare_dataset_and_pairs_by_a_rate_dataset(tmp_path):
    DatasetFactory(name="pairs")
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="pairs", file=write_jsonl(tmp_path / "r.jsonl", [row()]))
    assert "comparing pairs" in caught.value.errors[0].message
    DatasetFactory(name="rated", mode="rate")
    trl = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ApplicationError, match="rating single responses"):
        import_file(dataset_name="rated", file=trl)


def test_a_gzip_file_is_read(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(row()) + "\n").encode()))
    assert import_file(dataset_name="thumbs", file=path).n_ratings_created == 1


def test_the_commands_import_and_export_ratings(tmp_path):
    call_command("import_data", str(write_jsonl(tmp_path / "r.jsonl", ROWS)), dataset="thumbs", format="unpaired",
                 stdout=io.StringIO())
    out = tmp_path / "out.csv"
    call_command("export_data", dataset="thumbs", format="unpaired", csv=True, output=str(out), stderr=io.StringIO())
    assert out.read_text().startswith("prompt,completion,label,")
    assert len(out.read_text().splitlines()) == 6


def test_the_data_page_imports_ratings_and_offers_their_exports(admin_client):
    response = admin_client.post("/data/import/", {"file": jsonl_upload(ROWS), "dataset": "thumbs", "format": "auto"},
                                 follow=True)
    assert b"5 new ratings" in response.content
    dataset = Dataset.objects.get(name="thumbs")
    page = admin_client.get("/data/").content.decode()
    assert f'href="/data/datasets/{dataset.pk}/export/unpaired/"' in page
    download = admin_client.get(f"/api/datasets/{dataset.pk}/export/?kind=unpaired")
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["label"] in (True, False)


def test_a_large_ratings_upload_is_imported_by_the_worker_task(admin_client, settings, tmp_path,
                                                               django_capture_on_commit_callbacks):
    from annotation.dataio.uploads import import_upload_run
    from annotation.models import ImportUpload
    from common.models import JobStatus

    settings.ARBITER_IMPORT_INLINE_MAX_BYTES, settings.VAR_DIR = 10, tmp_path
    with django_capture_on_commit_callbacks():
        admin_client.post("/data/import/", {"file": jsonl_upload(ROWS), "dataset": "thumbs", "format": "auto"})
    upload = import_upload_run(upload_id=ImportUpload.objects.get().pk)  # what the worker's task runs
    assert upload.status == JobStatus.SUCCEEDED and upload.batch.format == "unpaired"
    assert upload.batch.n_ratings_created == Rating.objects.count() == 5


def test_the_import_api_takes_an_unpaired_file(admin_client):
    response = admin_client.post("/api/imports/create/", {"file": jsonl_upload(ROWS), "dataset": "thumbs",
                                                          "format": "unpaired"})
    assert response.status_code == 201
    assert (response.json()["n_rating_items_created"], response.json()["n_ratings_created"]) == (4, 5)
