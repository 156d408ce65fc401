"""Reads for the judgement and pair search (the review search page and its API): every filter
optional, all of them applied together."""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from annotation.models import Judgement, Pair
from annotation.review.selectors import flagged_q


@dataclass
class SearchFilters:
    dataset_ids: list[int]
    """The datasets searched (those the user may review, narrowed by the dataset filter)."""
    labeller: str = ""
    """Username (exact)."""
    choice: str = ""
    since: datetime | None = None
    until: datetime | None = None
    """Judgements made at or after `since` and before `until`."""
    flagged: bool | None = None
    """True: only judgements where a response was flagged; False: only unflagged ones."""
    q: str = ""
    """Text in the prompt, either response or the rationale (case-insensitive)."""
    include_superseded: bool = False

    @property
    def judgement_filters_set(self) -> bool:
        return bool(self.labeller or self.choice or self.since or self.until or self.flagged is not None)


def _text_q(q: str, prefix: str = "") -> Q:
    return (Q(**{f"{prefix}prompt_text__icontains": q}) | Q(**{f"{prefix}response_a__text__icontains": q})
            | Q(**{f"{prefix}response_b__text__icontains": q}))


def judgements_search(*, filters: SearchFilters) -> QuerySet[Judgement]:
    """Judgements matching every filter set, newest first."""
    qs = Judgement.objects.filter(pair__dataset_id__in=filters.dataset_ids)
    if not filters.include_superseded:
        qs = qs.filter(superseded=False)
    if filters.labeller:
        qs = qs.filter(labeller__user__username=filters.labeller)
    if filters.choice:
        qs = qs.filter(choice=filters.choice)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    if filters.flagged is True:
        qs = qs.filter(flagged_q())
    elif filters.flagged is False:
        qs = qs.exclude(flagged_q())
    if filters.q:
        qs = qs.alias(pair__prompt_text=Cast("pair__prompt__messages", TextField())).filter(
            Q(rationale__icontains=filters.q) | Q(pair__prompt_text__icontains=filters.q)
            | Q(pair__response_a__text__icontains=filters.q) | Q(pair__response_b__text__icontains=filters.q))
    return (qs.select_related("labeller__user", "pair__dataset", "pair__prompt", "pair__response_a", "pair__response_b")
            .order_by("-created_at", "-id"))


def pairs_search(*, filters: SearchFilters) -> QuerySet[Pair]:
    """Pairs whose prompt or responses hold the text, or that have a judgement matching the
    filters (the text then also matches its rationale); newest first."""
    qs = Pair.objects.filter(dataset_id__in=filters.dataset_ids)
    if filters.judgement_filters_set or filters.q:
        matching = judgements_search(filters=filters).filter(pair_id=OuterRef("pk")).order_by()
        cond = Exists(matching)
        if filters.q and not filters.judgement_filters_set:
            qs = qs.alias(prompt_text=Cast("prompt__messages", TextField()))
            cond = cond | _text_q(filters.q)
        qs = qs.filter(cond)
    return qs.select_related("dataset", "prompt", "response_a", "response_b").order_by("-created_at", "-id")


def pair_choice_counts(pair_ids: list[int]) -> dict[int, dict[str, int]]:
    """{pair_id: {choice: n}} of the current first judgements of the pairs of a search page."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (Judgement.objects.filter(pair_id__in=pair_ids, superseded=False, is_repeat=False).order_by()
            .values("pair_id", "choice").annotate(n=Count("id")).values_list("pair_id", "choice", "n"))
    for pid, choice, n in rows:
        out[pid][choice] = n
    return out
