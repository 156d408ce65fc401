"""Services that create and change datasets."""
from django.db import transaction

from annotation.labelling.services import dataset_labellers_set
from annotation.models import Choice, Dataset, Labeller
from common.exceptions import ApplicationError

EDITABLE = ("description", "instructions", "overlap_k", "repeat_rate", "gold_rate", "choices", "strength_scale",
            "lease_minutes")


def _check(values: dict) -> None:
    valid = {c.value for c in Choice}
    if "choices" in values and (not values["choices"] or not set(values["choices"]) <= valid):
        raise ApplicationError(f"choices must be a non-empty subset of {', '.join(sorted(valid))}")
    if "strength_scale" in values:
        scale = values["strength_scale"]
        if not isinstance(scale, dict) or not set(scale) <= {"1", "2", "3"}:
            raise ApplicationError('strength_scale must map "1", "2", "3" to labels')


def labellers_named(usernames: list[str]) -> list[Labeller]:
    """The labellers with these usernames; an ApplicationError names the ones that do not exist."""
    found = list(Labeller.objects.filter(user__username__in=usernames).select_related("user"))
    missing = sorted(set(usernames) - {lab.user.username for lab in found})
    if missing:
        raise ApplicationError(f"No labeller named {', '.join(missing)}")
    return found


@transaction.atomic
def dataset_create(*, name: str, labellers: list[str] | None = None, mode: str = Dataset.Mode.COMPARE,
                   **values) -> Dataset:
    """A new dataset; `mode` (compare or rate) is set once, here: its data (pairs, or responses
    to rate) depends on it."""
    if Dataset.objects.filter(name=name).exists():
        raise ApplicationError(f"A dataset named {name!r} already exists")
    if mode not in Dataset.Mode.values:
        raise ApplicationError(f"mode must be one of {', '.join(Dataset.Mode.values)}, not {mode!r}")
    _check(values)
    assigned = labellers_named(labellers or [])
    dataset = Dataset(name=name, mode=mode, **{k: v for k, v in values.items() if k in EDITABLE})
    dataset.full_clean()
    dataset.save()
    dataset_labellers_set(dataset=dataset, labellers=assigned)
    return dataset


@transaction.atomic
def dataset_update(*, dataset: Dataset, labellers: list[str] | None = None, **values) -> Dataset:
    """Changes the given settings; `labellers`, when given, replaces the assigned labellers."""
    _check(values)
    for key, value in values.items():
        if key in EDITABLE:
            setattr(dataset, key, value)
    dataset.full_clean()
    dataset.save()
    if labellers is not None:
        dataset_labellers_set(dataset=dataset, labellers=labellers_named(labellers))
    return dataset
