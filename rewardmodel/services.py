"""Writes for reward-model runs: create, cancel, resume, retrain, auto-retrain, stale-run reaping."""
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from annotation.models import Dataset
from annotation.selectors import judgements_counted
from common.exceptions import ApplicationError
from common.jobs import STALE_AFTER, job_cancel, job_fail, job_requeue, jobs_fail_stale
from common.ml.limits import positions_problem
from common.validation import checked_config
from rewardmodel.backbone import backbone_problem
from rewardmodel.config import RewardTrainConfig
from rewardmodel.models import AutoRetrainPolicy, AutoRetrainTrigger, RewardModelRun
from rewardmodel.selection import SelectionConfig


def run_dir(run: RewardModelRun) -> Path:
    return Path(settings.ARBITER_ARTIFACTS_DIR) / "reward-runs" / str(run.pk)


def run_config_parse(config: dict) -> tuple[RewardTrainConfig, SelectionConfig]:
    """{"train": {...}, "selection": {...}} -> the two dataclasses; ApplicationError naming the
    unknown or invalid setting."""
    if not isinstance(config, dict):
        raise ApplicationError(f"The run's settings must be an object, not {type(config).__name__}.")
    parsed = []
    for key, cls in (("train", RewardTrainConfig), ("selection", SelectionConfig)):
        try:
            parsed.append(checked_config(cls, config.get(key) or {}, what=key))
        except ValueError as exc:
            raise ApplicationError(f"Invalid {key} setting: {exc}") from exc
    train, selection = parsed
    if train.loss_type == "davidson":
        selection.include_ties = True
    return train, selection


def reward_run_limits_check(*, base_model_path: str, train: RewardTrainConfig) -> None:
    """ApplicationError naming the setting and the limit when max_length exceeds the backbone's
    positions: such a run would fail mid-way with a bare IndexError."""
    problem = positions_problem(base_model_path, tokens=train.max_length, setting="max_length",
                                model=f"the backbone {base_model_path}")
    if problem:
        raise ApplicationError(problem)


def _enqueue(run: RewardModelRun) -> None:
    from rewardmodel.tasks import reward_run_train

    def send():
        result = reward_run_train.delay(run.pk)
        RewardModelRun.objects.filter(pk=run.pk).update(celery_task_id=result.id)

    transaction.on_commit(send)


@transaction.atomic
def reward_run_create(
    *, dataset: Dataset, base_model_path: str, config: dict | None = None, name: str = "", created_by=None,
    enqueue: bool = True, retrain_of: RewardModelRun | None = None,
) -> RewardModelRun:
    """Creates a run and queues it. Settings that cannot be parsed raise ApplicationError (nothing
    is written); a backbone folder that does not exist gives a run that is failed at once, with
    the reason, so the mistake is recorded and visible."""
    train, selection = run_config_parse(config or {})
    reward_run_limits_check(base_model_path=base_model_path.strip(), train=train)
    run = RewardModelRun.objects.create(
        dataset=dataset, base_model_path=base_model_path.strip(), name=name.strip(), created_by=created_by,
        config={"train": train.to_dict(), "selection": asdict(selection)}, retrain_of=retrain_of,
    )
    problem = backbone_problem(run.base_model_path)
    if problem:
        job_fail(run, error=problem)
    elif not judgements_counted(dataset_id=dataset.pk).exists():
        job_fail(run, error=f"Dataset {dataset.name} has no counted judgements to train on.")
    elif enqueue:
        _enqueue(run)
    return run


def reward_run_cancel(*, run: RewardModelRun) -> RewardModelRun:
    return job_cancel(run)


@transaction.atomic
def reward_run_resume(*, run: RewardModelRun, enqueue: bool = True) -> RewardModelRun:
    """Queues a failed or cancelled run again; it continues from its last checkpoint."""
    problem = backbone_problem(run.base_model_path)
    if problem:
        raise ApplicationError(problem)
    job_requeue(run)
    if enqueue:
        _enqueue(run)
    return run


def reward_run_retrain(*, run: RewardModelRun, created_by=None, enqueue: bool = True) -> RewardModelRun:
    """A new run with the same dataset, backbone and settings, on the judgements counted now."""
    return reward_run_create(
        dataset=run.dataset, base_model_path=run.base_model_path, config=run.config, created_by=created_by,
        name=f"{run.name or f'run {run.pk}'} (retrain)"[:200], enqueue=enqueue, retrain_of=run,
    )


def reward_runs_fail_stale(*, older_than: timedelta = STALE_AFTER, restarted_node: str = "") -> int:
    """Ends the running runs whose worker stopped sending heartbeats (it died): failed, or
    cancelled when a user had asked to cancel them (restarted_node: see jobs_fail_stale)."""
    return jobs_fail_stale(RewardModelRun, older_than=older_than, restarted_node=restarted_node)


def _threshold(dataset: Dataset, every: int) -> int:
    return judgements_counted(dataset_id=dataset.pk).count() // every * every


@transaction.atomic
def auto_retrain_policy_set(
    *, dataset: Dataset, every_n_judgements: int, enabled: bool = True, template_run: RewardModelRun | None = None
) -> AutoRetrainPolicy:
    """Turns automatic retraining on (or off). It fires at the next multiple of
    `every_n_judgements` counted judgements, not for the ones already there."""
    if every_n_judgements < 1:
        raise ApplicationError("Retrain every N judgements: N must be at least 1.")
    if template_run is not None and template_run.dataset_id != dataset.pk:
        raise ApplicationError("The template run belongs to another dataset.")
    policy, _ = AutoRetrainPolicy.objects.update_or_create(
        dataset=dataset,
        defaults={"every_n_judgements": every_n_judgements, "enabled": enabled, "template_run": template_run},
    )
    current = _threshold(dataset, every_n_judgements)
    if current:
        AutoRetrainTrigger.objects.get_or_create(dataset=dataset, threshold=current)
    return policy


def auto_retrain_check(*, dataset: Dataset, enqueue: bool = True) -> RewardModelRun | None:
    """Starts a retrain when the counted judgements passed a new multiple of N. The trigger row's
    unique (dataset, threshold) makes a second checker's insert fail, so a threshold fires once."""
    policy = AutoRetrainPolicy.objects.filter(dataset=dataset, enabled=True).select_related("template_run").first()
    if policy is None:
        return None
    threshold = _threshold(dataset, policy.every_n_judgements)
    last = AutoRetrainTrigger.objects.filter(dataset=dataset).aggregate(m=Max("threshold"))["m"] or 0
    if threshold == 0 or threshold <= last:
        return None
    try:
        with transaction.atomic():
            trigger = AutoRetrainTrigger.objects.create(dataset=dataset, threshold=threshold)
            template = policy.template_run
            run = reward_run_create(
                dataset=dataset,
                base_model_path=template.base_model_path if template else _default_backbone(),
                config=template.config if template else {},
                name=f"auto-retrain at {threshold} judgements",
                enqueue=enqueue,
                retrain_of=template,
            )
            trigger.run = run
            trigger.save(update_fields=["run"])
    except IntegrityError:
        return None  # another checker fired this threshold first
    return run


def auto_retrain_check_all(*, enqueue: bool = True) -> list[RewardModelRun]:
    return [
        run
        for policy in AutoRetrainPolicy.objects.filter(enabled=True).select_related("dataset")
        if (run := auto_retrain_check(dataset=policy.dataset, enqueue=enqueue)) is not None
    ]


def _default_backbone() -> str:
    from rewardmodel.backbone import default_backbone_path

    return default_backbone_path()
