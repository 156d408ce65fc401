"""Reads that several parts of Arbiter share: which judgements count, and how they vote."""
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from annotation.models import Choice, Judgement, LabellerExclusion


def exclusions_active(*, dataset_id: int) -> QuerySet[LabellerExclusion]:
    return LabellerExclusion.objects.filter(revoked_at__isnull=True).filter(
        Q(dataset_id=dataset_id) | Q(dataset__isnull=True)
    )


def judgements_counted(*, dataset_id: int, honour_exclusions: bool = True) -> QuerySet[Judgement]:
    """The judgements that count for a dataset: current (not superseded by a revision), first
    judgements (planned repeats only measure self-consistency), and, unless told otherwise, not
    made by a labeller an admin excluded (for all time or within the excluded range)."""
    qs = Judgement.objects.filter(pair__dataset_id=dataset_id, superseded=False, is_repeat=False)
    if honour_exclusions:
        excluded = exclusions_active(dataset_id=dataset_id).filter(labeller_id=OuterRef("labeller_id")).filter(
            Q(start__isnull=True) | Q(start__lte=OuterRef("created_at")),
            Q(end__isnull=True) | Q(end__gt=OuterRef("created_at")),
        )
        qs = qs.exclude(Exists(excluded))
    return qs


@dataclass(frozen=True)
class PairVotes:
    pair_id: int
    a: int
    b: int
    tie: int
    both_bad: int

    @property
    def total(self) -> int:
        return self.a + self.b + self.tie + self.both_bad

    @property
    def winner(self) -> str | None:
        """'a' or 'b' when it has a strict majority of all votes; None for ties and split votes."""
        if self.a * 2 > self.total:
            return Choice.A.value
        if self.b * 2 > self.total:
            return Choice.B.value
        return None

    @property
    def agreement(self) -> float:
        """Share of votes given to the most common choice."""
        return max(self.a, self.b, self.tie, self.both_bad) / self.total if self.total else 0.0


def pair_votes(judgements: QuerySet[Judgement]):
    """Yields PairVotes per pair, in pair id order, counted in SQL (no row-by-row load)."""
    rows = (
        judgements.order_by()
        .values("pair_id")
        .annotate(
            a=Count("id", filter=Q(choice=Choice.A)),
            b=Count("id", filter=Q(choice=Choice.B)),
            tie=Count("id", filter=Q(choice=Choice.TIE)),
            both_bad=Count("id", filter=Q(choice=Choice.BOTH_BAD)),
        )
        .order_by("pair_id")
    )
    for row in rows.iterator(chunk_size=2000):
        yield PairVotes(**row)
