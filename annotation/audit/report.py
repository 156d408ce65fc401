"""The whole audit of one dataset as one JSON document, cached per dataset in AuditCache.

The cache key is derived from what the report reads: the dataset's judgements (count, largest
id, latest created_at, how many are superseded), the exclusions that apply to it (count, largest
id, latest revocation), the number of pairs and every gold / agrees-with-user mark (pair and side). A new judgement, revision,
exclusion or revocation changes the key, so the next read recomputes."""
import hashlib
import time

import numpy as np

from django.db.models import Count, Max, Q

from annotation.audit.ai import human_only, with_ai
from annotation.audit.agreement import MIN_SHARED, agreement_by_week, agreement_summary
from annotation.audit.bias import dataset_biases, indicators
from annotation.audit.consensus import loo_majority, real_times, reference_side, session_halves, sessions
from annotation.audit.data import CHOICE_CODE, AuditData, audit_data_load
from annotation.audit.labellers import ALPHA, MIN_N, group_breakdowns, labeller_table
from annotation.audit.leaderboard import leaderboard
from annotation.audit.quality import dawid_skene_one_coin
from annotation.audit.stats import N_BOOT, SEED, ItemBootstrap
from annotation.audit.ratings import ratings_audit
from annotation.models import AuditCache, Dataset, Judgement, LabellerExclusion, Pair, Rating, RatingItem, ReviewDecision
from annotation.review.selectors import overrides_current

REPORT_VERSION = "6"  # bump when the document changes shape, so old caches are not served
CACHE_KIND = "report"
CACHE_KIND_OVERRIDES = "report_overrides"  # the audit with reviewers' overrides counted


def audit_cache_kind(*, count_overrides: bool) -> str:
    return CACHE_KIND_OVERRIDES if count_overrides else CACHE_KIND


def audit_cache_key(*, dataset: Dataset, count_overrides: bool = False) -> str:
    judgements = Judgement.objects.filter(pair__dataset=dataset).aggregate(
        n=Count("id"), max_id=Max("id"), latest=Max("created_at"), superseded=Count("id", filter=Q(superseded=True))
    )
    exclusions = LabellerExclusion.objects.filter(Q(dataset=dataset) | Q(dataset__isnull=True)).aggregate(
        n=Count("id"), max_id=Max("id"), revoked=Count("id", filter=Q(revoked_at__isnull=False)), latest=Max("revoked_at")
    )
    # Which side each mark points to, not just how many there are: flipping a gold answer changes the audit.
    marks = list(
        Pair.objects.filter(dataset=dataset).filter(~Q(gold="") | ~Q(agrees_with_user=""))
        .order_by("id").values_list("id", "gold", "agrees_with_user")
    )
    n_pairs = Pair.objects.filter(dataset=dataset).count()
    decisions = ReviewDecision.objects.filter(pair__dataset=dataset).aggregate(n=Count("id"), max_id=Max("id"))
    # The ratings section reads the ratings (and their revisions) and the items' gold labels.
    ratings = Rating.objects.filter(item__dataset=dataset).aggregate(
        n=Count("id"), max_id=Max("id"), latest=Max("created_at"), superseded=Count("id", filter=Q(superseded=True))
    )
    gold = list(RatingItem.objects.filter(dataset=dataset, gold_label__isnull=False).order_by("id")
                .values_list("id", "gold_label"))
    raw = repr((REPORT_VERSION, sorted(judgements.items()), sorted(exclusions.items()), n_pairs, marks,
                count_overrides, sorted(decisions.items()), sorted(ratings.items()), gold))
    return hashlib.sha256(raw.encode()).hexdigest()


def audit_report(*, dataset: Dataset, use_cache: bool = True, count_overrides: bool = False) -> dict:
    """The audit document, from the cache when it is still valid, else computed and stored.
    With `count_overrides`, a reviewer's override of a pair replaces the labellers' majority as the
    answer that pair's judgements are compared with (agreement with the majority, the reference of
    the bias indicators and of the flags); without it, the labellers' own majority is used."""
    kind = audit_cache_kind(count_overrides=count_overrides)
    key = audit_cache_key(dataset=dataset, count_overrides=count_overrides)
    if use_cache:
        cached = AuditCache.objects.filter(dataset=dataset, kind=kind, key=key).values_list("payload", flat=True).first()
        if cached is not None:
            return cached
    report = audit_compute(dataset=dataset, count_overrides=count_overrides)
    AuditCache.objects.update_or_create(dataset=dataset, kind=kind, defaults={"key": key, "payload": report})
    return report


def audit_compute(*, dataset: Dataset, count_overrides: bool = False) -> dict:
    started = time.perf_counter()
    data = audit_data_load(dataset_id=dataset.pk)
    overrides = overrides_current(dataset_ids=[dataset.pk])
    report = audit_from_data(data, overrides=overrides if count_overrides else None)
    report["review"] = {
        "overrides_counted": count_overrides,
        "n_overrides": len(overrides),
        "n_pairs_overridden_in_audit": int(np.isin(data.pair_id, list(overrides)).sum()) if count_overrides else 0,
    }
    report["ratings"] = ratings_audit(dataset_id=dataset.pk)
    return {"dataset": dataset.name, "mode": dataset.mode, **report,
            "computed_in_s": round(time.perf_counter() - started, 3)}


def majority_with_overrides(data: AuditData, majority: np.ndarray, overrides: dict[int, str]) -> np.ndarray:
    """(n,) the leave-one-out majority with each overridden pair's judgements compared with the
    reviewer's choice instead."""
    ids = np.array(sorted(overrides), np.int64)  # (m,)
    codes = np.array([CHOICE_CODE[overrides[pid]] for pid in ids.tolist()], np.int8)  # (m,)
    pos = np.clip(np.searchsorted(ids, data.pair_id), 0, len(ids) - 1)  # (n_items,)
    code = np.where(ids[pos] == data.pair_id, codes[pos], -1)  # (n_items,) -1: not overridden
    per_judgement = code[data.item]  # (n,)
    return np.where(per_judgement >= 0, per_judgement, majority).astype(np.int8)


def audit_from_data(data: AuditData, overrides: dict[int, str] | None = None) -> dict:
    full, data = data, human_only(data)  # AI labellers are measured apart (annotation/audit/ai.py)
    boot = ItemBootstrap(data.n_items)
    majority = loo_majority(data)
    if overrides:
        majority = majority_with_overrides(data, majority, overrides)
    reference = reference_side(data, majority)
    ind = indicators(data, majority, reference)
    timed = real_times(data)
    positions, session_length = sessions(data, timed)
    agreement = agreement_summary(data, boot)
    cohen_pairs = agreement.pop("cohen_kappa_pairs")
    biases = dataset_biases(data, ind, boot, positions, timed)
    biases.update(group_breakdowns(data, ind))
    quality = dawid_skene_one_coin(data)
    report = {
        "n_judgements": data.n,
        "n_pairs": data.n_items,
        "n_labellers": data.n_labellers,
        "agreement": agreement,
        "agreement_by_week": agreement_by_week(data, timed, SEED, N_BOOT) if timed.any() else None,
        "labellers": labeller_table(data, ind, majority, quality, session_halves(positions, session_length)),
        "biases": biases,
        "leaderboard": leaderboard(data),
        "method": {
            "n_bootstrap": N_BOOT,
            "seed": SEED,
            "cohen_min_shared_items": MIN_SHARED,
            "cohen_kappa_pairs": cohen_pairs,
            "flag_family_error_rate": ALPHA,
            "flag_multiple_comparisons": "Holm step-down over the labellers tested under each rule",
            "leaderboard_resampling_unit": "pair",
            "flag_minimum_samples": MIN_N,
            "n_repeats": int(len(data.repeat_item)),
        },
    }
    return with_ai(report, full)
