"""Reads of "rate one response" labelling: what a labeller may rate, how far they are, and which
ratings count (for training, exports and the audit)."""
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from annotation.models import Dataset, Labeller, Rating, RatingAssignment, RatingItem
from annotation.selectors import exclusions_active


@dataclass(frozen=True)
class RatingProgress:
    rated_today: int
    rated_total: int
    left_in_queue: int
    items_total: int

    # The names of the comparison queue's Progress, for the dataset list that shows both.
    judged_today = property(lambda self: self.rated_today)
    judged_total = property(lambda self: self.rated_total)
    pairs_total = property(lambda self: self.items_total)


def ratings_counted(*, dataset_id: int, honour_exclusions: bool = True) -> QuerySet[Rating]:
    """The ratings that count for a dataset, by the rule judgements_counted applies to judgements:
    current (not superseded), first ratings (planned repeats only measure self-consistency), and,
    unless told otherwise, not made by a labeller an admin excluded at the time."""
    qs = Rating.objects.filter(item__dataset_id=dataset_id, superseded=False, is_repeat=False)
    if honour_exclusions:
        excluded = exclusions_active(dataset_id=dataset_id).filter(labeller_id=OuterRef("labeller_id")).filter(
            Q(start__isnull=True) | Q(start__lte=OuterRef("created_at")),
            Q(end__isnull=True) | Q(end__gt=OuterRef("created_at")),
        )
        qs = qs.exclude(Exists(excluded))
    return qs


def ratings_for_training(*, dataset_id: int) -> list[dict]:
    """One row per counted rating (ratings_counted: no repeats, no superseded rows, no excluded
    labeller), in rating id order, as KTO reads them:
    {"prompt_messages": [{"role", "content"}, ...], "completion": str, "label": bool (True = thumbs
    up), "rating_id": int, "prompt_id": int}."""
    rows = (
        ratings_counted(dataset_id=dataset_id)
        .order_by("id")
        .values_list("id", "label", "item__response__prompt_id", "item__response__prompt__messages", "item__response__text")
    )
    return [
        {"prompt_messages": messages, "completion": text, "label": bool(label), "rating_id": rating_id,
         "prompt_id": prompt_id}
        for rating_id, label, prompt_id, messages, text in rows.iterator(chunk_size=2000)
    ]


def items_unseen_by(*, labeller: Labeller, dataset_id: int) -> QuerySet[RatingItem]:
    """The dataset's rating items this labeller has not rated, is not leasing and did not skip."""
    rated = Rating.objects.filter(item=OuterRef("pk"), labeller=labeller, is_repeat=False, revision_of__isnull=True)
    seen = RatingAssignment.objects.filter(
        item=OuterRef("pk"), labeller=labeller,
        status__in=[RatingAssignment.Status.ACTIVE, RatingAssignment.Status.SKIPPED],
    )
    return RatingItem.objects.filter(dataset_id=dataset_id).filter(~Exists(rated), ~Exists(seen))


def items_open_to(*, labeller: Labeller, dataset: Dataset) -> QuerySet[RatingItem]:
    """Items the queue could still give this labeller besides repeats and gold checks: unseen by
    them, not gold, with a slot left below overlap_k; the fullest first (then the newest)."""
    return (
        items_unseen_by(labeller=labeller, dataset_id=dataset.pk)
        .filter(gold_label__isnull=True)
        .alias(taken=F("n_ratings") + F("n_leased"))
        .filter(taken__lt=dataset.overlap_k)
        .order_by("-taken", "-id")
    )


def rating_progress(*, labeller: Labeller, dataset: Dataset) -> RatingProgress:
    mine = Rating.objects.filter(labeller=labeller, item__dataset=dataset, revision_of__isnull=True)
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return RatingProgress(
        rated_today=mine.filter(created_at__gte=start_of_day).count(),
        rated_total=mine.count(),
        left_in_queue=items_open_to(labeller=labeller, dataset=dataset).count(),
        items_total=dataset.rating_items.count(),
    )


def ratings_recent(*, labeller: Labeller, dataset: Dataset, limit: int = 10) -> QuerySet[Rating]:
    """The labeller's latest current ratings made in the app in the dataset, newest first."""
    return (
        Rating.objects.filter(labeller=labeller, item__dataset=dataset, superseded=False, source=Rating.Source.APP)
        .order_by("-created_at", "-id")[:limit]
    )


def rating_lease_current(*, labeller: Labeller, dataset: Dataset, now=None) -> RatingAssignment | None:
    """The labeller's oldest unexpired active lease in the dataset, without leasing anything."""
    return (
        RatingAssignment.objects.filter(labeller=labeller, item__dataset=dataset, status=RatingAssignment.Status.ACTIVE,
                                        expires_at__gt=now or timezone.now())
        .select_related("item__response__prompt")
        .order_by("created_at")
        .first()
    )


def rating_for_revision(*, labeller: Labeller, rating_id: int) -> Rating | None:
    return (
        Rating.objects.filter(pk=rating_id, labeller=labeller, superseded=False)
        .select_related("item__dataset", "item__response__prompt")
        .first()
    )


def rating_lease_shown(lease: RatingAssignment) -> dict:
    """What a labeller (page or API) is shown of a lease: never the response's model, nor whether
    it is a repeat or a gold check."""
    response = lease.item.response
    return {
        "id": lease.pk, "item_id": lease.item_id, "expires_at": lease.expires_at,
        "prompt": response.prompt.messages, "response": response.text,
    }
