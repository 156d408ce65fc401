import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("arbiter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The tasks that load a model and run it for long. Everything else (imports, lease expiry, the
# reapers, the auto-retrain sweep) stays on the default queue, never behind hours of training.
MODEL_TASKS = frozenset({
    "rewardmodel.tasks.reward_run_train",
    "rewardmodel.tasks.reward_run_score_pairs",
    "training.tasks.sft_run_task",
    "training.tasks.policy_run_task",
    "annotation.tasks.critique_run_task",
    "annotation.tasks.ai_label_run_task",
})


def route_task(name, args, kwargs, options, task=None, **kw):
    """CELERY_TASK_ROUTES: model tasks go to ARBITER_TRAINING_QUEUE when it names a queue of its
    own (consumed by `celery worker -Q <it> --concurrency 1` on GPU machines); other tasks, and all
    tasks when the two queues are one, go to the default queue."""
    if name in MODEL_TASKS and settings.ARBITER_TRAINING_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE:
        return {"queue": settings.ARBITER_TRAINING_QUEUE}
    return None
