"""Reads for the labelling pages and API: what a labeller may work on and how far they are."""
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from annotation.models import Assignment, Dataset, Judgement, Labeller, Pair


@dataclass(frozen=True)
class Progress:
    judged_today: int
    judged_total: int
    left_in_queue: int
    pairs_total: int


def datasets_for_labeller(*, labeller: Labeller) -> QuerySet[Dataset]:
    return labeller.datasets.order_by("name")


def dataset_for_labeller(*, labeller: Labeller, dataset_id: int) -> Dataset | None:
    """The dataset, if the labeller is assigned to it."""
    return labeller.datasets.filter(pk=dataset_id).first()


def pairs_unseen_by(*, labeller: Labeller, dataset: Dataset) -> QuerySet[Pair]:
    """The dataset's pairs this labeller has not judged, is not leasing and did not skip."""
    judged = Judgement.objects.filter(pair=OuterRef("pk"), labeller=labeller, is_repeat=False, revision_of__isnull=True)
    seen = Assignment.objects.filter(
        pair=OuterRef("pk"), labeller=labeller, status__in=[Assignment.Status.ACTIVE, Assignment.Status.SKIPPED]
    )
    return Pair.objects.filter(dataset=dataset).filter(~Exists(judged), ~Exists(seen))


def pairs_open_to(*, labeller: Labeller, dataset: Dataset) -> QuerySet[Pair]:
    """Pairs the queue could still give this labeller (besides planned repeats and gold checks):
    unseen by them, not gold, and with a slot left below overlap_k (plus the judgements a reviewer
    asked for when sending the pair back)."""
    return (
        pairs_unseen_by(labeller=labeller, dataset=dataset)
        .filter(gold="")
        .alias(taken=F("n_judgements") + F("n_leased") - F("extra_overlap"))
        .filter(taken__lt=dataset.overlap_k)
    )


def labeller_progress(*, labeller: Labeller, dataset: Dataset) -> Progress:
    mine = Judgement.objects.filter(labeller=labeller, pair__dataset=dataset, revision_of__isnull=True)
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Progress(
        judged_today=mine.filter(created_at__gte=start_of_day).count(),
        judged_total=mine.count(),
        left_in_queue=pairs_open_to(labeller=labeller, dataset=dataset).count(),
        pairs_total=dataset.pairs.count(),
    )


def judgements_recent(*, labeller: Labeller, dataset: Dataset, limit: int = 10) -> QuerySet[Judgement]:
    """The labeller's latest current judgements in the dataset, newest first, for review."""
    return (
        Judgement.objects.filter(labeller=labeller, pair__dataset=dataset, superseded=False, source=Judgement.Source.APP)
        .select_related("pair__prompt", "pair__response_a", "pair__response_b")
        .order_by("-created_at", "-id")[:limit]
    )


def lease_current(*, labeller: Labeller, dataset: Dataset, now=None) -> Assignment | None:
    """The labeller's oldest unexpired active lease in the dataset (the one the queue would give
    back), without leasing anything."""
    return (
        Assignment.objects.filter(labeller=labeller, pair__dataset=dataset, status=Assignment.Status.ACTIVE,
                                  expires_at__gt=now or timezone.now())
        .select_related("pair__prompt", "pair__response_a", "pair__response_b")
        .order_by("created_at")
        .first()
    )


def judgement_for_revision(*, labeller: Labeller, judgement_id: int) -> Judgement | None:
    return (
        Judgement.objects.filter(pk=judgement_id, labeller=labeller, superseded=False)
        .select_related("pair__dataset", "pair__prompt", "pair__response_a", "pair__response_b")
        .first()
    )
