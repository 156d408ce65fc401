"""Reads for review: who may review a dataset, which pairs need a reviewer (and why), the pairs'
current decisions (the judgement and pair search is in search.py).

A pair is listed in the review queue for any of: its labellers disagree, a labeller flagged a
response, a gold check on it failed, or it holds a judgement of a labeller the audit flagged or an
admin excluded. It leaves the open queue once a decision on it is newer than its newest judgement;
a judgement made after that (e.g. once sent back) lists it again if it is still disputed."""
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet

from annotation.models import AuditCache, Choice, Dataset, DatasetReviewer, Judgement, Pair, ReviewDecision
from annotation.selectors import judgements_counted, pair_votes
from common.permissions import is_arbiter_admin

# How much each reason adds to a pair's priority: a failed gold check is the surest sign of a
# wrong judgement, a full split (agreement 1/2 or less) counts as much; flags are hints.
WEIGHT_DISAGREEMENT = 4.0  # times (1 - agreement)
WEIGHT_GOLD_FAILED = 2.0
WEIGHT_FLAGGED = 1.0
WEIGHT_SUSPECT_LABELLER = 1.0
KINDS = {
    "disagreement": "Labellers disagree",
    "flagged": "Flagged by a labeller",
    "gold_failed": "Failed gold check",
    "flagged_labeller": "Labeller flagged by the audit",
    "excluded_labeller": "Labeller excluded by an admin",
}
CHOICE_LABEL = dict(Choice.choices)
SHOW = ("open", "reviewed", "all")


def can_review(*, user, dataset: Dataset) -> bool:
    """Admins review every dataset; a labeller only those they were given the reviewer role on."""
    if is_arbiter_admin(user):
        return True
    labeller = getattr(user, "labeller", None)
    return labeller is not None and DatasetReviewer.objects.filter(dataset=dataset, labeller=labeller).exists()


def datasets_reviewable_by(*, user) -> QuerySet[Dataset]:
    if is_arbiter_admin(user):
        return Dataset.objects.order_by("name")
    labeller = getattr(user, "labeller", None)
    if labeller is None:
        return Dataset.objects.none()
    return Dataset.objects.filter(reviewers__labeller=labeller).order_by("name")


def reviewers_of(*, dataset: Dataset) -> QuerySet[DatasetReviewer]:
    return dataset.reviewers.select_related("labeller__user", "granted_by").order_by("labeller__user__username")


@dataclass
class QueueItem:
    pair_id: int
    priority: float = 0.0
    reasons: list[dict] = field(default_factory=list)
    """[{kind, label, text}]: why the pair is listed, most important first."""
    latest_judgement_at: datetime | None = None
    decision: ReviewDecision | None = None
    pair: Pair | None = None

    @property
    def reviewed(self) -> bool:
        """A decision newer than every judgement of the pair."""
        return self.decision is not None and (
            self.latest_judgement_at is None or self.decision.created_at >= self.latest_judgement_at)

    @property
    def kinds(self) -> list[str]:
        return sorted({r["kind"] for r in self.reasons})

    def add(self, kind: str, weight: float, text: str) -> None:
        self.priority += weight
        self.reasons.append({"kind": kind, "label": KINDS[kind], "text": text})


def _flag_text(flags: dict) -> str:
    parts = [f"{side.upper()} {', '.join(str(f).replace('_', ' ') for f in names)}"
             for side, names in sorted((flags or {}).items()) if names]
    return "; ".join(parts)


def flagged_q() -> Q:
    """Judgements where a labeller ticked at least one problem on either response."""
    return Q(flags__a__0__isnull=False) | Q(flags__b__0__isnull=False)


def audit_flagged_labellers(*, dataset: Dataset) -> tuple[dict[str, str], datetime | None]:
    """{username: the audit's reasons} from the dataset's latest computed audit (whatever state of
    the data it was computed for; the review page says when), and when it was computed. Reading
    the cached report keeps the queue cheap: the audit itself can take seconds."""
    cache = AuditCache.objects.filter(dataset=dataset, kind="report").only("payload", "computed_at").first()
    if cache is None:
        return {}, None
    flagged = {row["username"]: "; ".join(f["reason"] for f in row["flags"])
               for row in cache.payload.get("labellers", []) if row.get("flags")}
    return flagged, cache.computed_at


def review_items(*, dataset: Dataset, pair_ids: list[int] | None = None) -> dict[int, QueueItem]:
    """Every pair of the dataset that a reviewer should look at, with its reasons and priority
    (or only those of `pair_ids`)."""
    items: dict[int, QueueItem] = {}

    def item(pid: int) -> QueueItem:
        return items.setdefault(pid, QueueItem(pair_id=pid))

    current = Judgement.objects.filter(pair__dataset=dataset, superseded=False)
    counted = judgements_counted(dataset_id=dataset.pk)
    if pair_ids is not None:
        current, counted = current.filter(pair_id__in=pair_ids), counted.filter(pair_id__in=pair_ids)

    for v in pair_votes(counted):
        if v.total >= 2 and v.agreement < 1:
            votes = ", ".join(f"{n} {label}" for n, label in (
                (v.a, "A"), (v.b, "B"), (v.tie, "tie"), (v.both_bad, "both bad")) if n)
            item(v.pair_id).add("disagreement", WEIGHT_DISAGREEMENT * (1 - v.agreement),
                                f"Labellers disagree: {votes} (agreement {v.agreement:.0%}).")
    rows = current.filter(flagged_q()).values_list("pair_id", "labeller__user__username", "flags").order_by("id")
    for pid, username, flags in rows:
        item(pid).add("flagged", WEIGHT_FLAGGED, f"{username} flagged a response: {_flag_text(flags)}.")
    # A gold check fails when the choice is not the gold side (a tie or "both bad" fails too).
    rows = current.exclude(pair__gold="").exclude(choice=F("pair__gold"))
    for pid, username, choice, gold in rows.values_list("pair_id", "labeller__user__username", "choice",
                                                        "pair__gold").order_by("id"):
        item(pid).add("gold_failed", WEIGHT_GOLD_FAILED,
                      f"Failed gold check: {username} chose {CHOICE_LABEL.get(choice, choice)}, "
                      f"the gold answer is {gold.upper()} better.")
    excluded = judgements_counted(dataset_id=dataset.pk, honour_exclusions=False).exclude(
        Exists(counted.filter(pk=OuterRef("pk"))))
    if pair_ids is not None:
        excluded = excluded.filter(pair_id__in=pair_ids)
    for pid, username in excluded.values_list("pair_id", "labeller__user__username").order_by("id"):
        item(pid).add("excluded_labeller", WEIGHT_SUSPECT_LABELLER,
                      f"Judged by {username}, whose judgements an admin excluded.")
    flagged, _ = audit_flagged_labellers(dataset=dataset)
    if flagged:
        for pid, username in counted.filter(labeller__user__username__in=list(flagged)).values_list(
                "pair_id", "labeller__user__username").order_by("id"):
            item(pid).add("flagged_labeller", WEIGHT_SUSPECT_LABELLER,
                          f"Judged by {username}, flagged by the audit: {flagged[username]}")

    if not items:
        return items
    # The whole dataset at once when the whole queue is asked for: a list of thousands of ids in
    # the query costs more than the rows it leaves out.
    judged = Judgement.objects.filter(pair__dataset=dataset)
    if pair_ids is not None:
        judged = judged.filter(pair_id__in=pair_ids)
    latest = dict(judged.order_by().values("pair_id").annotate(t=Max("created_at")).values_list("pair_id", "t"))
    for pid, decision in decisions_current(dataset=dataset, pair_ids=pair_ids).items():
        if pid in items:
            items[pid].decision = decision
    for pid, it in items.items():
        it.latest_judgement_at = latest.get(pid)
        order = list(KINDS)
        it.reasons.sort(key=lambda r: order.index(r["kind"]))
    return items


def review_queue(*, dataset: Dataset, show: str = "open", kind: str = "") -> list[QueueItem]:
    """The review queue, highest priority first (then the oldest pair): `show` open (no decision
    newer than the pair's judgements), reviewed, or all; `kind` keeps only pairs listed for it."""
    items = review_items(dataset=dataset).values()
    if show == "open":
        items = [i for i in items if not i.reviewed]
    elif show == "reviewed":
        items = [i for i in items if i.reviewed]
    if kind:
        items = [i for i in items if kind in i.kinds]
    return sorted(items, key=lambda i: (-i.priority, i.pair_id))


def queue_attach_pairs(items: list[QueueItem]) -> list[QueueItem]:
    """Loads the pairs (prompt and responses) of one page of the queue."""
    pairs = Pair.objects.filter(pk__in=[i.pair_id for i in items]).select_related("prompt", "response_a", "response_b")
    by_id = {p.pk: p for p in pairs}
    for i in items:
        i.pair = by_id.get(i.pair_id)
    return items


def decisions_current(*, dataset: Dataset | None = None, dataset_ids: list[int] | None = None,
                      pair_ids: list[int] | None = None) -> dict[int, ReviewDecision]:
    """{pair_id: its latest decision} (the latest by time, then id)."""
    qs = ReviewDecision.objects.select_related("reviewer")
    if dataset is not None:
        qs = qs.filter(pair__dataset=dataset)
    if dataset_ids is not None:
        qs = qs.filter(pair__dataset_id__in=dataset_ids)
    if pair_ids is not None:
        qs = qs.filter(pair_id__in=pair_ids)
    if connection.vendor == "postgresql":
        return {d.pair_id: d for d in qs.order_by("pair_id", "-created_at", "-id").distinct("pair_id")}
    out = {}
    for d in qs.order_by("created_at", "id"):
        out[d.pair_id] = d
    return out


def overrides_current(*, dataset_ids: list[int]) -> dict[int, str]:
    """{pair_id: the choice} of pairs whose current decision is an override."""
    return {pid: d.choice for pid, d in decisions_current(dataset_ids=dataset_ids).items()
            if d.action == ReviewDecision.Action.OVERRIDE}


def pair_for_review(*, dataset: Dataset, pair_id: int) -> Pair | None:
    return (Pair.objects.filter(dataset=dataset, pk=pair_id)
            .select_related("prompt", "response_a", "response_b").first())


def pair_judgements(*, pair: Pair) -> QuerySet[Judgement]:
    """Every judgement of the pair, revisions and repeats included, oldest first."""
    return pair.judgements.select_related("labeller__user").order_by("created_at", "id")


def pair_decisions(*, pair: Pair) -> QuerySet[ReviewDecision]:
    """The pair's decisions, newest first."""
    return pair.review_decisions.select_related("reviewer").order_by("-created_at", "-id")
