"""The demo set-up that `make run` performs: accounts, the two shipped datasets, assignments.
Safe to run again: it only adds what is missing."""
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.dataio.services import import_file
from annotation.models import Dataset, ImportBatch, Labeller

DEMO_DIR = settings.BASE_DIR / "data" / "demo"
# Fixed, printed demo passwords: for a local demo only (a deployment creates its own accounts).
DEMO_ACCOUNTS = [
    ("admin", "arbiter-admin", Labeller.Role.ADMIN),
    ("alice", "alice-demo", Labeller.Role.LABELLER),
    ("bob", "bob-demo", Labeller.Role.LABELLER),
    ("carol", "carol-demo", Labeller.Role.LABELLER),
]
DEMO_DATASETS = [
    {
        "name": "HH harmless (demo)", "file": "hh-harmless-1000.jsonl.gz", "format": "hh", "overlap_k": 3,
        "description": "1,000 Anthropic HH-RLHF harmless-base comparisons (MIT). Each pair carries the original "
                       "crowdworker's preference as one judgement by 'hh-imported'.",
    },
    {
        "name": "LLMFAO crowd judgements (demo)", "file": "llmfao-judgements.jsonl.gz", "format": "judgements",
        "overlap_k": 3,
        "description": "8,931 crowd judgements of 2,139 pairs by 124 workers, from LLMFAO by Dmitry Ustalov "
                       "(CC BY 4.0). Response A was always shown on the left.",
    },
    {
        "name": "HH harmless ratings (demo)", "file": "hh-harmless-ratings.jsonl.gz", "format": "unpaired",
        "overlap_k": 3, "mode": "rate",
        "description": "Rate one response: 198 answers from 99 Anthropic HH-RLHF harmless-base comparisons (MIT), "
                       "the chosen one rated thumbs up and the rejected one thumbs down by 'hh-imported'.",
    },
]


DEMO_TASK_SET = {
    "name": "Arithmetic (demo)", "file": "arithmetic-tasks.jsonl",
    "description": "400 questions a+b, a-b, a*b with operands 0-19 (320 train, 80 held out), checked by the numeric "
                   "checker: GRPO's demo task (scripts/make_arithmetic_tasks.py, seed 0).",
}


@dataclass
class DemoSeedResult:
    created_accounts: list[str] = field(default_factory=list)
    imported: list[ImportBatch] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    task_sets: list[str] = field(default_factory=list)


def demo_seed(*, demo_dir=DEMO_DIR, datasets=DEMO_DATASETS) -> DemoSeedResult:
    result = DemoSeedResult()
    with transaction.atomic():
        labellers = [_account(name, password, role, result) for name, password, role in DEMO_ACCOUNTS]
    for spec in datasets:
        dataset = Dataset.objects.filter(name=spec["name"]).first()
        if dataset is not None and dataset.imports.filter(status=ImportBatch.Status.SUCCEEDED,
                                                          filename=spec["file"]).exists():
            result.already_there.append(spec["name"])
        else:
            with transaction.atomic():
                Dataset.objects.get_or_create(name=spec["name"], defaults={
                    "overlap_k": spec["overlap_k"], "description": spec["description"],
                    "mode": spec.get("mode", Dataset.Mode.COMPARE)})
                # The shipped files have no invalid lines; skip_invalid keeps a newer copy importable.
                result.imported.append(import_file(dataset_name=spec["name"], file=demo_dir / spec["file"],
                                                   format=spec["format"], skip_invalid=True))
            dataset = Dataset.objects.get(name=spec["name"])
        dataset.labellers.add(*[lab for lab in labellers if lab.role == Labeller.Role.LABELLER])
    _demo_task_set(demo_dir, result)
    return result


def _demo_task_set(demo_dir, result: DemoSeedResult, spec=DEMO_TASK_SET) -> None:
    """The shipped arithmetic task set for GRPO, unless a task set of that name exists."""
    from training.models import TaskSet
    from training.services import task_set_import

    if TaskSet.objects.filter(name=spec["name"]).exists():
        result.already_there.append(spec["name"])
        return
    with open(demo_dir / spec["file"], "rb") as lines:
        task_set_import(name=spec["name"], lines=lines, description=spec["description"], source_filename=spec["file"])
    result.task_sets.append(spec["name"])


def _account(username: str, password: str, role: str, result: DemoSeedResult) -> Labeller:
    User = get_user_model()
    is_admin = role == Labeller.Role.ADMIN
    user = User.objects.filter(username=username).first()
    if user is None:
        # The password is set once; running the seed again never resets a changed one.
        user = User.objects.create_user(username=username, password=password, is_staff=is_admin,
                                        is_superuser=is_admin)
        result.created_accounts.append(username)
    labeller, _ = Labeller.objects.get_or_create(user=user, defaults={"role": role})
    return labeller
