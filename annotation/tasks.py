from celery import shared_task

from annotation.dataio import uploads
from annotation.labelling import services
from annotation.ratings import services as rating_services


@shared_task
def assignments_expire() -> int:
    """Returns the slots of abandoned leases to the queue (beat runs it every minute; the queue
    also sweeps on a few of its own requests, so leases return without a worker too)."""
    return services.assignments_expire() + rating_services.rating_leases_expire()


@shared_task
def import_upload_run_task(upload_id: int) -> int:
    """Imports a file uploaded on the Data page (annotation.dataio.uploads)."""
    return uploads.import_upload_run(upload_id=upload_id).pk


@shared_task
def import_uploads_reap_stale() -> int:
    return uploads.import_uploads_fail_stale()
