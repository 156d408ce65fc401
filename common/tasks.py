import logging

from celery import Task, shared_task

logger = logging.getLogger("arbiter.jobs")


@shared_task
def ping(token: str) -> str:
    """A task with no side effects, for checking that a worker consumes from the broker."""
    return f"pong:{token}"


class JobTask(Task):
    """Base of the tasks that run one Job row, whose id is their first argument; subclasses (or
    the task decorator) set `job_model`.

    Tasks are acknowledged late, so the broker may deliver one twice (a redelivery). The delivery
    that finds its job already started does nothing; and a crash that escaped the service ends the
    job failed, unless another worker runs it."""

    abstract = True
    job_model = None

    def __call__(self, *args, **kwargs):
        from common.jobs import JobAlreadyStarted

        try:
            return super().__call__(*args, **kwargs)
        except JobAlreadyStarted as exc:
            logger.info("%s[%s]: %s", self.name, self.request.id, exc.message)
            return "skipped"

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from common.jobs import job_fail

        job = self.job_model.objects.filter(pk=args[0]).first() if args else None
        if job is not None:
            job_fail(job, error=f"The task crashed: {type(exc).__name__}: {exc}",
                     running_on=self.request.hostname or "")
