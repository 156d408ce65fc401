from celery import shared_task

from annotation.labelling import services


@shared_task
def assignments_expire() -> int:
    """Returns the slots of abandoned leases to the queue (beat runs it every minute; the queue
    also sweeps on a few of its own requests, so leases return without a worker too)."""
    return services.assignments_expire()
