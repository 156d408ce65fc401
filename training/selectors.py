"""Reads for policy runs: demonstrations and prompts out of a dataset, run lists, chart series."""
from django.db.models import QuerySet

from annotation.models import Pair, Prompt
from annotation.selectors import judgements_counted, pair_votes
from common.models import JobStatus
from rewardmodel.models import RewardModelRun
from rewardmodel.selection import judgements_of_source
from training.models import MonitorWarning, PolicyRun, PolicySample, PolicyStep, SFTRun
from training.text import render_prompt, render_response


def sft_demonstrations(*, dataset_id: int) -> list[tuple[str, str]]:
    """(prompt text, response text) for every pair whose counted human judgements give one side a
    strict majority: the people's preferred response is the demonstration, its conversation the
    prompt. AI labellers' votes are left out, as reward-model selection leaves them out by default."""
    counted = judgements_of_source(judgements_counted(dataset_id=dataset_id), "human")
    winners = {v.pair_id: v.winner for v in pair_votes(counted) if v.winner}
    pairs = Pair.objects.filter(pk__in=winners).select_related("prompt", "response_a", "response_b").order_by("pk")
    return [
        (render_prompt(p.prompt.messages), render_response((p.response_a if winners[p.pk] == "a" else p.response_b).text))
        for p in pairs
    ]


def policy_prompts(*, dataset_id: int) -> list[str]:
    return [render_prompt(m) for m in Prompt.objects.filter(dataset_id=dataset_id).order_by("pk").values_list("messages", flat=True)]


def sft_run_list() -> QuerySet[SFTRun]:
    return SFTRun.objects.select_related("dataset").order_by("-created_at")


def policy_run_list() -> QuerySet[PolicyRun]:
    return PolicyRun.objects.select_related("dataset", "sft_run", "reward_run", "task_set").order_by("-created_at")


def sft_runs_succeeded() -> QuerySet[SFTRun]:
    return SFTRun.objects.filter(status=JobStatus.SUCCEEDED).order_by("-created_at")


def reward_runs_succeeded() -> QuerySet[RewardModelRun]:
    return RewardModelRun.objects.filter(status=JobStatus.SUCCEEDED).order_by("-created_at")


def policy_run_series(*, run: PolicyRun, names: list[str]) -> dict[str, list[tuple[float, float]]]:
    """{metric name: [(step, value), ...]} for the charts."""
    rows = PolicyStep.objects.filter(run=run).order_by("step").values_list("step", "metrics")
    return {name: [(step, m.get(name)) for step, m in rows if m.get(name) is not None] for name in names}


def policy_run_reward_vs_kl(*, run: PolicyRun) -> dict[str, list[tuple[float, float]]]:
    """Proxy and held-out reward against KL: the over-optimisation curve (Gao et al. 2022)."""
    rows = PolicyStep.objects.filter(run=run).order_by("step").values_list("metrics", flat=True)
    series = {"proxy": [], "held-out": []}
    for m in rows:
        if m.get("objective/kl") is None:
            continue
        series["proxy"].append((m["objective/kl"], m.get("objective/scores")))
        if m.get("objective/held_out_scores") is not None:
            series["held-out"].append((m["objective/kl"], m["objective/held_out_scores"]))
    for pts in series.values():
        pts.sort()
    return series


def policy_run_last_metrics(*, run: PolicyRun) -> dict:
    last = PolicyStep.objects.filter(run=run).order_by("-step").first()
    return {"step": last.step, **last.metrics} if last else {}


def policy_run_samples(*, run: PolicyRun) -> QuerySet[PolicySample]:
    return PolicySample.objects.filter(run=run).order_by("-step", "id")


def policy_run_warnings(*, run: PolicyRun) -> QuerySet[MonitorWarning]:
    return MonitorWarning.objects.filter(run=run).order_by("first_step", "kind")


def policy_run_options(*, run: PolicyRun) -> list[tuple[str, list[tuple[str, object]]]]:
    """The options the run was created with, as (group, [(name, value), ...]) for a table: for PPO
    the PPO settings, then the run's own (samples kept, monitors); for DPO the DPO settings, then
    the data selection. Options left out took their defaults."""
    from training.execute import RUN_OPTIONS

    config = run.config or {}
    if run.kind == PolicyRun.Kind.SPIN:
        groups = [("SPIN", sorted(config.items()))]
    elif run.kind in (PolicyRun.Kind.DPO, PolicyRun.Kind.KTO):
        groups = [
            (run.get_kind_display(), sorted((k, v) for k, v in config.items() if k != "selection")),
            ("Data selection", sorted((config.get("selection") or {}).items())),
        ]
    else:
        groups = [
            ("PPO", sorted((k, v) for k, v in config.items() if k not in RUN_OPTIONS)),
            ("Samples and monitors", sorted((k, v) for k, v in config.items() if k in RUN_OPTIONS)),
        ]
    return [(group, rows) for group, rows in groups if rows]


def task_set_list() -> list[dict]:
    """Each task set with its task counts per split, newest first (the Data page's table)."""
    from django.db.models import Count, Q

    from training.models import TaskSet

    return list(TaskSet.objects.order_by("-created_at").annotate(
        n_train=Count("tasks", filter=Q(tasks__split="train")), n_held_out=Count("tasks", filter=Q(tasks__split="held_out")),
    ).values("id", "name", "description", "source_filename", "created_at", "n_train", "n_held_out"))


def task_set_tasks(*, task_set_id: int):
    """The set's tasks as training/rewards/tasks.py's Task, in import order."""
    from training.models import Task as TaskRow
    from training.rewards.tasks import Task

    rows = TaskRow.objects.filter(task_set_id=task_set_id).order_by("id").values_list(
        "external_id", "prompt", "reference", "checker", "split")
    return [Task(id=i, prompt=p, reference=r, checker=c, split=s) for i, p, r, c, s in rows]


def task_set_checkers(*, task_set_id: int) -> list[str]:
    from training.models import Task as TaskRow

    return sorted(set(TaskRow.objects.filter(task_set_id=task_set_id).values_list("checker", flat=True)))


def grpo_reward_names(*, run: PolicyRun) -> list[str]:
    """The "rewards/<term>" metric names a GRPO run logs, in the order of its first step."""
    first = PolicyStep.objects.filter(run=run, step__gte=1).order_by("step").values_list("metrics", flat=True).first()
    return [k for k in (first or {}) if k.startswith("rewards/")]
