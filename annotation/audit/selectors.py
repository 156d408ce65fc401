"""Reads for the audit pages and API (the audit figures themselves come from report.py)."""
from django.db.models import Q, QuerySet

from annotation.models import Dataset, LabellerExclusion


def exclusions_for_dataset(*, dataset: Dataset) -> QuerySet[LabellerExclusion]:
    """Every exclusion that applies to the dataset (its own and the all-datasets ones), newest first."""
    return (
        LabellerExclusion.objects.filter(Q(dataset=dataset) | Q(dataset__isnull=True))
        .select_related("labeller__user", "created_by", "revoked_by", "dataset")
        .order_by("-created_at", "-id")
    )
