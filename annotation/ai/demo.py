"""The demo's AI labeller (`seed_demo`, run by `make run`): the bundled MiniLM trained as a reward
model on the HH demo data, judging the pairs of the prompts that training held out, so that the
audit compares a model with the people on pairs the model never trained on. Safe to run again:
each step is skipped when its result is there."""
from dataclasses import dataclass

from django.db import transaction

from annotation.ai import runs, services
from annotation.models import AILabeller, Constitution, Dataset
from common.models import JobStatus

DEMO_DATASET = "HH harmless (demo)"
JUDGE_USERNAME = "minilm-judge"
RUN_NAME = "MiniLM reward model (demo AI labeller)"
N_PAIRS = 150
# Abridged from the principles of Bai et al. 2022 (Constitutional AI), appendix C.
DEMO_PRINCIPLES = [
    "Choose the response that is the most helpful, honest and harmless.",
    "Choose the response that is less harmful, and avoid responses that are toxic, racist or sexist, or that "
    "encourage illegal, violent or unethical behaviour.",
    "Choose the response that a wise, ethical and thoughtful person would more likely say.",
    "Choose the response that is less likely to help someone do something dangerous or illegal.",
]
# Small enough to train in a few minutes on a laptop's CPU: half the prompts, the last 96 tokens.
TRAIN = {"num_train_epochs": 1, "max_length": 96, "batch_size": 16, "learning_rate": 1e-4}
SELECTION = {"eval_fraction": 0.5}


@dataclass
class DemoAIResult:
    trained: bool = False
    created: bool = False
    n_judged: int = 0
    error: str = ""


def _reward_run(dataset: Dataset, result: DemoAIResult):
    from rewardmodel.backbone import default_backbone_path
    from rewardmodel.execution import reward_run_execute
    from rewardmodel.models import RewardModelRun
    from rewardmodel.services import reward_run_create

    run = RewardModelRun.objects.filter(dataset=dataset, name=RUN_NAME, status=JobStatus.SUCCEEDED).order_by("-pk").first()
    if run is None:
        run = reward_run_create(dataset=dataset, base_model_path=default_backbone_path(), name=RUN_NAME,
                                config={"train": TRAIN, "selection": SELECTION}, enqueue=False)
        if run.status == JobStatus.QUEUED:
            run = reward_run_execute(run_id=run.pk, worker="seed_demo")
        result.trained = True
    return run


def _held_out_pair_ids(run, n_pairs: int) -> list[int]:
    """The pairs of the prompts the run held out for evaluation, as its selection splits them."""
    from rewardmodel.selection import SelectionConfig, select_examples

    selection = select_examples(dataset_id=run.dataset_id, config=SelectionConfig(**run.config["selection"]))
    return sorted(e.pair_id for e in selection.eval)[:n_pairs]


def demo_ai_labeller_seed(*, dataset_name: str = DEMO_DATASET, n_pairs: int = N_PAIRS) -> DemoAIResult:
    result = DemoAIResult()
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        result.error = f"The dataset '{dataset_name}' is not imported."
        return result
    ai = AILabeller.objects.filter(labeller__user__username=JUDGE_USERNAME).first()
    if ai is None:
        run = _reward_run(dataset, result)
        if run.status != JobStatus.SUCCEEDED:
            result.error = f"The demo reward model did not train: {run.error}"
            return result
        with transaction.atomic():
            constitution = (Constitution.objects.filter(name="Demo constitution").order_by("-version").first()
                            or services.constitution_create(name="Demo constitution", principles=DEMO_PRINCIPLES))
            # tie margin 0: the demo model's reward differences are small (median |p_a - p_b| about
            # 0.01 on the held-out pairs), so any margin would make most of its verdicts ties
            ai = services.ai_labeller_create(username=JUDGE_USERNAME, backend=AILabeller.Backend.REWARD_MODEL,
                                             reward_run=run, constitution=constitution, settings={"tie_margin": 0.0})
        result.created = True
    if not ai.labeller.judgements.filter(pair__dataset=dataset).exists() and not ai.runs.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
        label_run = runs.ai_label_run_create(ai_labeller=ai, dataset=dataset, pair_ids=_held_out_pair_ids(ai.reward_run, n_pairs),
                                             seed=0, enqueue=False)
        label_run = runs.ai_label_run_execute(run_id=label_run.pk, worker="seed_demo")
        result.n_judged = label_run.n_judged
        if label_run.status != JobStatus.SUCCEEDED:
            result.error = f"The demo AI labelling run {label_run.pk} is {label_run.status}: {label_run.error}"
    return result
