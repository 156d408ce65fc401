"""Reads for the data pages and the API: which datasets a user sees, with their counts."""
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotation.models import Dataset, ImportBatch, ImportUpload, Judgement, Pair
from common.models import JobStatus
from common.permissions import is_arbiter_admin


def _count(qs, group: str) -> Coalesce:
    subquery = qs.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(subquery, output_field=IntegerField()), Value(0))


def datasets_with_counts(qs: QuerySet[Dataset] | None = None) -> QuerySet[Dataset]:
    """Datasets annotated with n_pairs, n_judgements (all rows) and n_labellers, one subquery
    each (joins would multiply the counts)."""
    qs = Dataset.objects.all() if qs is None else qs
    labellers = Dataset.labellers.through.objects.filter(dataset_id=OuterRef("pk"))
    return qs.annotate(
        n_pairs=_count(Pair.objects.filter(dataset_id=OuterRef("pk")), "dataset_id"),
        n_judgements=_count(Judgement.objects.filter(pair__dataset_id=OuterRef("pk")), "pair__dataset_id"),
        n_labellers=_count(labellers, "dataset_id"),
    ).order_by("name")


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Admins see every dataset; a labeller only those they are assigned to."""
    if is_arbiter_admin(user):
        return Dataset.objects.all()
    labeller = getattr(user, "labeller", None)
    if labeller is None:
        return Dataset.objects.none()
    return Dataset.objects.filter(labellers=labeller)


def pairs_of_dataset(*, dataset: Dataset) -> QuerySet[Pair]:
    return Pair.objects.filter(dataset=dataset).select_related("prompt", "response_a", "response_b").order_by("id")


def judgements_visible_to(*, user, dataset: Dataset, labeller_username: str = "") -> QuerySet[Judgement]:
    """An admin sees every judgement of the dataset (optionally one labeller's); anyone else only
    their own."""
    qs = Judgement.objects.filter(pair__dataset=dataset).select_related("labeller__user").order_by("id")
    if not is_arbiter_admin(user):
        return qs.filter(labeller__user=user)
    if labeller_username:
        qs = qs.filter(labeller__user__username=labeller_username)
    return qs


def imports_recent(*, dataset: Dataset | None = None) -> QuerySet[ImportBatch]:
    qs = ImportBatch.objects.select_related("dataset", "created_by").order_by("-created_at", "-id")
    return qs if dataset is None else qs.filter(dataset=dataset)


def uploads() -> QuerySet[ImportUpload]:
    """Data-page uploads imported by a worker, newest first, with what their pages show."""
    return ImportUpload.objects.select_related("batch", "created_by")


def uploads_in_progress() -> QuerySet[ImportUpload]:
    """Uploads a worker has yet to finish importing, newest first."""
    return uploads().filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
