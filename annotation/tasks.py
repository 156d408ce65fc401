from celery import shared_task
from celery.signals import worker_ready

from annotation.dataio import uploads
from annotation.labelling import services
from annotation.models import AILabelRun, CritiqueRun
from annotation.ratings import services as rating_services
from common.tasks import JobTask


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


@shared_task(bind=True, base=JobTask, job_model=CritiqueRun, acks_late=True)
def critique_run_task(self, run_id: int) -> str:
    """A critique-and-revise run (annotation.critique.execution)."""
    from annotation.critique.execution import critique_run_execute

    return critique_run_execute(run_id=run_id, worker=self.request.hostname or "").status


@shared_task
def critique_runs_reap_stale() -> int:
    from common.jobs import jobs_fail_stale

    return jobs_fail_stale(CritiqueRun)
@shared_task(bind=True, base=JobTask, job_model=AILabelRun, acks_late=True)
def ai_label_run_task(self, run_id: int) -> str:
    """An AI labeller judges a dataset's pairs (annotation.ai.runs)."""
    from annotation.ai.runs import ai_label_run_execute

    return ai_label_run_execute(run_id=run_id, worker=self.request.hostname or "").status


@shared_task
def ai_label_runs_reap_stale() -> int:
    from annotation.ai.runs import ai_label_runs_fail_stale

    return ai_label_runs_fail_stale()


@worker_ready.connect
def _reap_ai_label_runs_on_start(sender, **kwargs):
    from annotation.ai.runs import ai_label_runs_fail_stale

    ai_label_runs_fail_stale(restarted_node=sender.hostname)
