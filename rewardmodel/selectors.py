"""Reads for the reward-model pages and API."""
from django.db.models import QuerySet

from rewardmodel.models import AutoRetrainPolicy, RewardModelRun


def run_list() -> QuerySet[RewardModelRun]:
    return RewardModelRun.objects.select_related("dataset", "created_by").order_by("-created_at")


def run_curves(run: RewardModelRun) -> dict[str, list[tuple[float, float]]]:
    """Metric name -> [(step, value)] for every numeric metric logged."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for step, metrics in run.steps.order_by("step").values_list("step", "metrics"):
        for name, value in metrics.items():
            if name not in ("step", "epoch") and isinstance(value, (int, float)):
                curves.setdefault(name, []).append((step, float(value)))
    return curves


def runs_by_ids(ids: list[int]) -> list[RewardModelRun]:
    runs = {r.pk: r for r in run_list().filter(pk__in=ids)}
    return [runs[i] for i in ids if i in runs]


def auto_retrain_policies() -> QuerySet[AutoRetrainPolicy]:
    return AutoRetrainPolicy.objects.select_related("dataset", "template_run").order_by("dataset__name")
