"""The whole audit of one dataset as one JSON document, cached per dataset in AuditCache.

The cache key is derived from what the report reads: the dataset's judgements (count, largest
id, latest created_at, how many are superseded), the exclusions that apply to it (count, largest
id, latest revocation), the number of pairs and every gold / agrees-with-user mark (pair and side). A new judgement, revision,
exclusion or revocation changes the key, so the next read recomputes."""
import hashlib
import time

from django.db.models import Count, Max, Q

from annotation.audit.agreement import MIN_SHARED, agreement_by_week, agreement_summary
from annotation.audit.bias import dataset_biases, indicators
from annotation.audit.consensus import loo_majority, real_times, reference_side, session_halves, sessions
from annotation.audit.data import AuditData, audit_data_load
from annotation.audit.labellers import ALPHA, MIN_N, group_breakdowns, labeller_table
from annotation.audit.leaderboard import leaderboard
from annotation.audit.quality import dawid_skene_one_coin
from annotation.audit.stats import N_BOOT, SEED, ItemBootstrap
from annotation.audit.ratings import ratings_audit
from annotation.models import AuditCache, Dataset, Judgement, LabellerExclusion, Pair, Rating, RatingItem

REPORT_VERSION = "4"  # bump when the document changes shape, so old caches are not served
CACHE_KIND = "report"


def audit_cache_key(*, dataset: Dataset) -> str:
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
    # The ratings section reads the ratings (and their revisions) and the items' gold labels.
    ratings = Rating.objects.filter(item__dataset=dataset).aggregate(
        n=Count("id"), max_id=Max("id"), latest=Max("created_at"), superseded=Count("id", filter=Q(superseded=True))
    )
    gold = list(RatingItem.objects.filter(dataset=dataset, gold_label__isnull=False).order_by("id")
                .values_list("id", "gold_label"))
    raw = repr((REPORT_VERSION, sorted(judgements.items()), sorted(exclusions.items()), n_pairs, marks,
                sorted(ratings.items()), gold))
    return hashlib.sha256(raw.encode()).hexdigest()


def audit_report(*, dataset: Dataset, use_cache: bool = True) -> dict:
    """The audit document, from the cache when it is still valid, else computed and stored."""
    key = audit_cache_key(dataset=dataset)
    if use_cache:
        cached = AuditCache.objects.filter(dataset=dataset, kind=CACHE_KIND, key=key).values_list("payload", flat=True).first()
        if cached is not None:
            return cached
    report = audit_compute(dataset=dataset)
    AuditCache.objects.update_or_create(dataset=dataset, kind=CACHE_KIND, defaults={"key": key, "payload": report})
    return report


def audit_compute(*, dataset: Dataset) -> dict:
    started = time.perf_counter()
    data = audit_data_load(dataset_id=dataset.pk)
    report = audit_from_data(data)
    report["ratings"] = ratings_audit(dataset_id=dataset.pk)
    return {"dataset": dataset.name, "mode": dataset.mode, **report,
            "computed_in_s": round(time.perf_counter() - started, 3)}


def audit_from_data(data: AuditData) -> dict:
    boot = ItemBootstrap(data.n_items)
    majority = loo_majority(data)
    reference = reference_side(data, majority)
    ind = indicators(data, majority, reference)
    timed = real_times(data)
    positions, session_length = sessions(data, timed)
    agreement = agreement_summary(data, boot)
    cohen_pairs = agreement.pop("cohen_kappa_pairs")
    biases = dataset_biases(data, ind, boot, positions, timed)
    biases.update(group_breakdowns(data, ind))
    quality = dawid_skene_one_coin(data)
    return {
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
