"""Uploads too large to import within a web request: the file is stored, a worker imports it, and
the upload's page follows its progress. Small files are still imported in the request (the Data
page shows their errors at once); the limit is settings.ARBITER_IMPORT_INLINE_MAX_BYTES."""
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotation.dataio.services import ImportRejected, import_file
from annotation.models import ImportUpload
from common.exceptions import ApplicationError
from common.jobs import job_fail, job_heartbeat, job_start, job_succeed, jobs_fail_stale

REJECTED_LINES_KEPT = 500
# The import writes in one transaction, without heartbeats: a large file may take minutes.
STALE_AFTER = timedelta(minutes=30)


def upload_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def import_upload_queue(*, dataset_name: str, file, format: str = "auto", skip_invalid: bool = False,
                        created_by=None, filename: str = "") -> ImportUpload:
    """Stores the uploaded file and queues its import; the worker's task runs import_upload_run."""
    from annotation.tasks import import_upload_run_task

    path = upload_dir() / f"{uuid.uuid4().hex}-{Path(filename or file.name).name[-100:]}"
    with open(path, "wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    upload = ImportUpload.objects.create(
        dataset_name=dataset_name, filename=(filename or file.name)[:500], upload_path=str(path), format=format,
        skip_invalid=skip_invalid, created_by=created_by,
    )
    transaction.on_commit(lambda: import_upload_run_task.delay(upload.pk))
    return upload


def import_upload_run(*, upload_id: int) -> ImportUpload:
    """Imports a queued upload (import_file, with heartbeats and progress while it validates), then
    removes the stored file. A rejection or any error marks the upload failed, never left running."""
    upload = job_start(ImportUpload.objects.get(pk=upload_id), worker=f"{socket.gethostname()}:{os.getpid()}")
    path = Path(upload.upload_path)
    try:
        size = max(1, path.stat().st_size)
        with open(path, "rb") as raw:
            batch = import_file(
                dataset_name=upload.dataset_name, file=raw, format=upload.format, skip_invalid=upload.skip_invalid,
                created_by=upload.created_by, filename=upload.filename,
                # validating is most of the time; writing the rows is the last tenth
                on_progress=lambda: job_heartbeat(upload, progress=0.9 * raw.tell() / size),
            )
    except ImportRejected as exc:
        ImportUpload.objects.filter(pk=upload.pk).update(batch=exc.batch, summary={
            "n_errors": len(exc.errors), "errors": [issue.as_dict() for issue in exc.errors[:REJECTED_LINES_KEPT]],
            "skipping_helps": exc.skipping_helps,
        })
        return job_fail(upload, error=f"Rejected: {exc.message}.")
    except ApplicationError as exc:
        return job_fail(upload, error=exc.message)
    except Exception as exc:
        job_fail(upload, error=f"The import failed: {exc!r}")
        raise
    finally:
        path.unlink(missing_ok=True)
    ImportUpload.objects.filter(pk=upload.pk).update(batch=batch)
    return job_succeed(upload, summary={"batch_id": batch.pk, "n_pairs_created": batch.n_pairs_created,
                                        "n_judgements_created": batch.n_judgements_created})


def import_uploads_fail_stale() -> int:
    """Marks failed the uploads whose worker died while importing them."""
    return jobs_fail_stale(ImportUpload, older_than=STALE_AFTER)
