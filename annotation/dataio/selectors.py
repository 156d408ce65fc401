"""Reads for the data pages and the API: which datasets a user sees, with their counts."""
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotation.models import Dataset, ImportBatch, ImportUpload, Judgement, Pair, Rating, RatingItem
from common.models import JobStatus
from common.permissions import is_arbiter_admin


def _count(qs, group: str) -> Coalesce:
    subquery = qs.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(subquery, output_field=IntegerField()), Value(0))


def datasets_with_counts(qs: QuerySet[Dataset] | None = None) -> QuerySet[Dataset]:
    """Datasets annotated with n_pairs, n_judgements (all rows), n_rating_items, n_ratings (all
    rows) and n_labellers, one subquery each (joins would multiply the counts)."""
    qs = Dataset.objects.all() if qs is None else qs
    labellers = Dataset.labellers.through.objects.filter(dataset_id=OuterRef("pk"))
    return qs.annotate(
        n_pairs=_count(Pair.objects.filter(dataset_id=OuterRef("pk")), "dataset_id"),
        n_judgements=_count(Judgement.objects.filter(pair__dataset_id=OuterRef("pk")), "pair__dataset_id"),
        n_rating_items=_count(RatingItem.objects.filter(dataset_id=OuterRef("pk")), "dataset_id"),
        n_ratings=_count(Rating.objects.filter(item__dataset_id=OuterRef("pk")), "item__dataset_id"),
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


# How many of a failed import's errors the history shows; its own page lists them all.
HISTORY_ERRORS_SHOWN = 5


@dataclass
class ImportHistoryEntry:
    """One line of the Data page's import history: an import (ImportBatch), or an upload a worker
    failed to import before any import was recorded (a rejected first import of a dataset, an
    unexpected error). `errors` are the first issues, {line, field, message}."""

    created_at: datetime
    dataset_name: str
    filename: str
    format: str
    failed: bool
    status_label: str
    batch: ImportBatch | None = None
    upload: ImportUpload | None = None
    n_invalid: int = 0
    n_warnings: int = 0
    errors: list[dict] = field(default_factory=list)
    n_errors: int = 0
    error: str = ""

    @property
    def n_errors_not_shown(self) -> int:
        return self.n_errors - len(self.errors)


def _entry_of_batch(batch: ImportBatch) -> ImportHistoryEntry:
    issues = batch.errors or []
    errors = [i for i in issues if i.get("severity", "error") == "error"]
    failed = batch.status == ImportBatch.Status.FAILED
    return ImportHistoryEntry(
        created_at=batch.created_at, dataset_name=batch.dataset.name, filename=batch.filename, format=batch.format,
        failed=failed, status_label=batch.get_status_display(), batch=batch, n_invalid=len(errors),
        n_warnings=len(issues) - len(errors), errors=errors[:HISTORY_ERRORS_SHOWN] if failed else [],
        n_errors=len(errors),
    )


def _entry_of_failed_upload(upload: ImportUpload) -> ImportHistoryEntry:
    errors = upload.summary.get("errors", [])
    return ImportHistoryEntry(
        created_at=upload.created_at, dataset_name=upload.dataset_name, filename=upload.filename, format=upload.format,
        failed=True, status_label="Rejected" if errors else "Failed", upload=upload,
        n_invalid=upload.summary.get("n_errors", len(errors)), errors=errors[:HISTORY_ERRORS_SHOWN],
        n_errors=upload.summary.get("n_errors", len(errors)), error=upload.error,
    )


def import_history(*, limit: int = 20) -> list[ImportHistoryEntry]:
    """The latest imports, newest first, failed and rejected ones with their first errors. Failed
    uploads that recorded an import appear once, as that import."""
    batches = [_entry_of_batch(b) for b in imports_recent()[:limit]]
    failed_uploads = uploads().filter(status=JobStatus.FAILED, batch__isnull=True).order_by("-created_at")[:limit]
    entries = batches + [_entry_of_failed_upload(u) for u in failed_uploads]
    return sorted(entries, key=lambda e: e.created_at, reverse=True)[:limit]


def dataset_member_usernames(*, dataset) -> list[str]:
    """The usernames of a dataset's assigned labellers, sorted."""
    return list(dataset.labellers.order_by("user__username").values_list("user__username", flat=True))
