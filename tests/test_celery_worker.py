import pytest

from common.tasks import ping


@pytest.mark.celery_worker
def test_a_real_worker_process_runs_a_task_through_the_broker(celery_worker_process):
    result = ping.delay("hello")

    assert result.get(timeout=60) == "pong:hello"
    assert celery_worker_process.poll() is None  # the worker is a separate, live process


def test_every_beat_entry_names_a_registered_task():
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name!r} names no task"


MODEL_TASKS = {
    "rewardmodel.tasks.reward_run_train",
    "rewardmodel.tasks.reward_run_score_pairs",
    "training.tasks.sft_run_task",
    "training.tasks.policy_run_task",
    "annotation.tasks.critique_run_task",
    "annotation.tasks.ai_label_run_task",  # an AI labeller judges with a local model (or an endpoint)
}


def test_only_model_work_is_routed_to_a_separate_training_queue(settings):
    from config.celery import app

    app.loader.import_default_modules()
    settings.ARBITER_TRAINING_QUEUE = "gpu"
    names = [name for name in app.tasks if not name.startswith("celery.")]

    routes = {name: app.amqp.router.route({}, name)["queue"].name for name in names}

    default = app.conf.task_default_queue
    assert routes == {name: "gpu" if name in MODEL_TASKS else default for name in names}
    assert MODEL_TASKS <= set(names)
