"""Uploads too large for a web request: stored, imported by a worker, followed on their own page."""
import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.dataio.uploads import import_upload_run, import_uploads_fail_stale
from annotation.models import ImportUpload, Judgement, Pair
from common.models import JobStatus
from tests.annotation.dataio.helpers import judgement, jsonl_upload
from tests.conftest import wait_for


@pytest.fixture
def small_inline_limit(settings, tmp_path):
    settings.ARBITER_IMPORT_INLINE_MAX_BYTES = 10
    settings.VAR_DIR = tmp_path


def queue(admin_client, rows, **fields):
    response = admin_client.post("/data/import/", {"file": jsonl_upload(rows), "dataset": "d", "format": "auto", **fields})
    upload = ImportUpload.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/uploads/{upload.pk}/"
    return upload


@pytest.mark.django_db
def test_a_large_upload_is_queued_then_imported_by_the_task(admin_client, small_inline_limit,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as enqueued:
        upload = queue(admin_client, [judgement(), judgement(annotator="w2")])
    assert len(enqueued) == 1 and upload.status == JobStatus.QUEUED and not Pair.objects.exists()
    assert "Queued" in admin_client.get(f"/data/uploads/{upload.pk}/").content.decode()

    upload = import_upload_run(upload_id=upload.pk)  # what the worker's task runs

    assert upload.status == JobStatus.SUCCEEDED and upload.progress == 1.0
    assert (upload.batch.n_pairs_created, upload.batch.n_judgements_created) == (1, 2) == (
        Pair.objects.count(), Judgement.objects.count())
    assert not Path(upload.upload_path).exists()  # the stored file is removed once imported
    page = admin_client.get(f"/data/uploads/{upload.pk}/").content.decode()
    assert "Imported" in page and f"/data/imports/{upload.batch.pk}/" in page


@pytest.mark.django_db
def test_a_rejected_upload_lists_its_bad_lines_and_imports_nothing(admin_client, small_inline_limit):
    upload = queue(admin_client, [judgement(), judgement(annotator="w2", choice="maybe"), "{oops"])

    upload = import_upload_run(upload_id=upload.pk)

    assert upload.status == JobStatus.FAILED and "2 invalid line(s)" in upload.error
    assert [(e["line"], e["field"]) for e in upload.summary["errors"]] == [(2, "choice"), (3, "line")]
    assert not Pair.objects.exists() and not Path(upload.upload_path).exists()
    page = admin_client.get(f"/data/uploads/{upload.pk}/").content.decode()
    assert "must be one of" in page and "is not valid JSON" in page and "Skip invalid lines" in page


@pytest.mark.django_db
def test_a_truncated_gzip_upload_fails_and_imports_nothing_even_with_skip_invalid(admin_client, small_inline_limit):
    body = gzip.compress(b"".join(json.dumps(judgement(pair_id=f"p{i}")).encode() + b"\n" for i in range(2000)))
    response = admin_client.post("/data/import/", {"file": SimpleUploadedFile("f.jsonl.gz", body[: len(body) // 2]),
                                                   "dataset": "d", "format": "auto", "skip_invalid": "on"})
    assert response.status_code == 302

    upload = import_upload_run(upload_id=ImportUpload.objects.get().pk)

    assert upload.status == JobStatus.FAILED and "cannot be read to its end" in upload.error
    assert [e["field"] for e in upload.summary["errors"]] == ["file"]
    assert not Pair.objects.exists()
    page = admin_client.get(f"/data/uploads/{upload.pk}/").content.decode()
    assert "cannot be read to its end" in page and "Skip invalid lines" not in page


@pytest.mark.django_db
def test_the_upload_page_polls_until_the_import_ends(admin_client, small_inline_limit):
    upload = queue(admin_client, [judgement()])
    fragment = admin_client.get(f"/data/uploads/{upload.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="upload-status"') and 'hx-trigger="every 1s"' in fragment
    assert "Being imported" in admin_client.get("/data/").content.decode()
    import_upload_run(upload_id=upload.pk)
    fragment = admin_client.get(f"/data/uploads/{upload.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment and "Imported" in fragment


@pytest.mark.django_db
def test_an_upload_whose_worker_died_is_marked_failed(admin_client, small_inline_limit):
    upload = queue(admin_client, [judgement()])
    ImportUpload.objects.filter(pk=upload.pk).update(status=JobStatus.RUNNING,
                                                     heartbeat_at=timezone.now() - timedelta(hours=1))
    assert import_uploads_fail_stale() == 1
    upload.refresh_from_db()
    assert upload.status == JobStatus.FAILED and "heartbeats" in upload.error


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_imports_a_queued_upload(admin_client, settings, celery_worker_process):
    settings.ARBITER_IMPORT_INLINE_MAX_BYTES = 10
    upload = queue(admin_client, [judgement(), judgement(pair_id="p2", annotator="w2")])

    def ended():
        return ImportUpload.objects.values_list("status", flat=True).get(pk=upload.pk) not in (
            JobStatus.QUEUED, JobStatus.RUNNING)

    wait_for(ended, message="the worker to import the upload")
    upload.refresh_from_db()
    assert upload.status == JobStatus.SUCCEEDED, upload.error
    assert Pair.objects.count() == 2 and upload.worker
