"""Reads for the Team page: every labeller with their progress across datasets and, for one
dataset, the audit's figures for them (speed, quality, flags: read from the audit report, never
recomputed here)."""
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from annotation.audit.report import CACHE_KIND, audit_cache_key, audit_report
from annotation.models import AuditCache, Dataset, Judgement, Labeller, Pair

# (key in the URL, header); the Team table sorts by any of them, server-side.
SORT_KEYS = [
    ("username", "Labeller"),
    ("datasets", "Datasets"),
    ("progress", "Progress"),
    ("speed", "Median s / judgement"),
    ("quality", "Quality"),
    ("flags", "Flags"),
]
PAGE_SIZE = 25


@dataclass(frozen=True)
class TeamRow:
    labeller: Labeller
    n_datasets: int
    judged: int  # first judgements (not repeats or revisions) in the datasets they are assigned to
    pairs_assigned: int  # pairs in those datasets
    audit: dict | None  # the audit report's row for them in the chosen dataset; None when they have none

    @property
    def progress(self) -> float | None:
        return self.judged / self.pairs_assigned if self.pairs_assigned else None

    @property
    def median_s(self) -> float | None:
        ms = self.audit and self.audit["median_time_ms"]
        return None if ms is None else ms / 1000

    @property
    def quality(self) -> float | None:
        return self.audit["quality"] if self.audit else None

    @property
    def flags(self) -> list[dict]:
        return self.audit["flags"] if self.audit else []


def labellers_with_progress(*, search: str = "") -> list[Labeller]:
    """Every labeller (people and AI labellers), by username, each with n_datasets, judged and
    pairs_assigned set; `search` matches the username, names or email. Four queries whatever the
    number of labellers: each aggregate is one GROUP BY pass (correlated per-labeller counts took
    minutes with 500 labellers and 100k judgements: bench/team_scale.py)."""
    qs = Labeller.objects.select_related("user").order_by("user__username")
    if search:
        qs = qs.filter(Q(user__username__icontains=search) | Q(user__first_name__icontains=search)
                       | Q(user__last_name__icontains=search) | Q(user__email__icontains=search))
    labellers = list(qs)
    Membership = Dataset.labellers.through
    pairs_of = dict(Pair.objects.order_by().values_list("dataset_id").annotate(n=Count("id")))
    datasets_of: dict[int, list[int]] = {}
    for labeller_id, dataset_id in Membership.objects.order_by().values_list("labeller_id", "dataset_id"):
        datasets_of.setdefault(labeller_id, []).append(dataset_id)
    # First judgements (no planned repeats, no revisions) in datasets the labeller is assigned to.
    judged = dict(
        Judgement.objects.filter(is_repeat=False, revision_of__isnull=True)
        .filter(Exists(Membership.objects.filter(labeller_id=OuterRef("labeller_id"), dataset_id=OuterRef("pair__dataset_id"))))
        .order_by().values_list("labeller_id").annotate(n=Count("id"))
    )
    for labeller in labellers:
        mine = datasets_of.get(labeller.pk, [])
        labeller.n_datasets = len(mine)
        labeller.pairs_assigned = sum(pairs_of.get(d, 0) for d in mine)
        labeller.judged = judged.get(labeller.pk, 0)
    return labellers


def audit_dataset_default() -> Dataset | None:
    """The dataset whose audit the Team page shows unless asked: the one with most judgements."""
    # Pair.n_judgements is kept in step by the services that write judgements: cheaper than counting them.
    return Dataset.objects.annotate(n=Coalesce(Sum("pairs__n_judgements"), 0)).order_by("-n", "name").first()


@dataclass(frozen=True)
class AuditFigures:
    """The audit report's labeller rows for one dataset, by labeller id, and how fresh they are."""

    dataset: Dataset
    rows: dict[int, dict]
    computed_at: object | None  # None: never computed
    current: bool  # computed from the data as it is now


def audit_figures(*, dataset: Dataset, compute: bool = False) -> AuditFigures:
    """The audit's labeller rows for the dataset. An audit of a large dataset takes seconds and
    every new judgement makes it stale, so unless `compute` is set this reads the stored report
    as it is (perhaps stale, or none yet) instead of computing it; with `compute`, the current
    report (computed and stored when it is not)."""
    if compute:
        report = audit_report(dataset=dataset)
        stored = AuditCache.objects.filter(dataset=dataset, kind=CACHE_KIND).values_list("computed_at", flat=True).first()
        return AuditFigures(dataset, {r["labeller_id"]: r for r in report["labellers"]}, stored, True)
    stored = AuditCache.objects.filter(dataset=dataset, kind=CACHE_KIND).only("key", "payload", "computed_at").first()
    if stored is None:
        return AuditFigures(dataset, {}, None, False)
    rows = {r["labeller_id"]: r for r in stored.payload["labellers"]}
    return AuditFigures(dataset, rows, stored.computed_at, stored.key == audit_cache_key(dataset=dataset))


def _sort_value(row: TeamRow, key: str):
    return {
        "username": row.labeller.user.username.lower(),
        "datasets": row.n_datasets,
        "progress": row.progress,
        "speed": row.median_s,
        "quality": row.quality,
        "flags": len(row.flags) if row.audit else None,
    }[key]


def team_rows(*, search: str = "", sort: str = "username", descending: bool = False,
              audit: AuditFigures | None = None) -> list[TeamRow]:
    """The Team table, sorted by `sort` (a SORT_KEYS key); rows without a value sort last either
    way, ties by username. The audit columns come from `audit` (audit_figures)."""
    by_labeller = audit.rows if audit is not None else {}
    rows = [TeamRow(labeller=lab, n_datasets=lab.n_datasets, judged=lab.judged, pairs_assigned=lab.pairs_assigned,
                    audit=by_labeller.get(lab.pk)) for lab in labellers_with_progress(search=search)]
    key = sort if sort in dict(SORT_KEYS) else "username"
    present = [r for r in rows if _sort_value(r, key) is not None]
    missing = [r for r in rows if _sort_value(r, key) is None]
    present.sort(key=lambda r: r.labeller.user.username.lower())  # ties by username, whichever the direction
    present.sort(key=lambda r: _sort_value(r, key), reverse=descending)
    return present + missing


def team_datasets() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def labeller_for_team(*, labeller_id: int) -> Labeller | None:
    return (Labeller.objects.select_related("user").prefetch_related("datasets")
            .filter(pk=labeller_id).first())
