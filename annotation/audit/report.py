"""The whole audit of one dataset as one JSON document, cached per dataset in AuditCache.

The cache key is derived from what the report reads: the dataset's judgements (count, largest
id, latest created_at, how many are superseded), the exclusions that apply to it (count, largest
id, latest revocation) and the pairs' gold / agrees-with-user marks. A new judgement, revision,
exclusion or revocation changes the key, so the next read recomputes."""
import hashlib
import time

from django.db.models import Count, Max, Q

from annotation.audit.agreement import MIN_SHARED, agreement_by_week, agreement_summary
from annotation.audit.bias import dataset_biases, indicators
from annotation.audit.consensus import loo_majority, reference_side, sessions
from annotation.audit.data import AuditData, audit_data_load
from annotation.audit.labellers import ALPHA, MIN_N, group_breakdowns, labeller_table
from annotation.audit.leaderboard import leaderboard
from annotation.audit.quality import dawid_skene_one_coin
from annotation.audit.stats import N_BOOT, SEED, ItemBootstrap
from annotation.models import AuditCache, Dataset, Judgement, LabellerExclusion, Pair

REPORT_VERSION = "2"  # bump when the document changes shape, so old caches are not served
CACHE_KIND = "report"


def audit_cache_key(*, dataset: Dataset) -> str:
    judgements = Judgement.objects.filter(pair__dataset=dataset).aggregate(
        n=Count("id"), max_id=Max("id"), latest=Max("created_at"), superseded=Count("id", filter=Q(superseded=True))
    )
    exclusions = LabellerExclusion.objects.filter(Q(dataset=dataset) | Q(dataset__isnull=True)).aggregate(
        n=Count("id"), max_id=Max("id"), revoked=Count("id", filter=Q(revoked_at__isnull=False)), latest=Max("revoked_at")
    )
    pairs = Pair.objects.filter(dataset=dataset).aggregate(
        n=Count("id"), gold=Count("id", filter=~Q(gold="")), agrees=Count("id", filter=~Q(agrees_with_user=""))
    )
    raw = repr((REPORT_VERSION, sorted(judgements.items()), sorted(exclusions.items()), sorted(pairs.items())))
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
    return {"dataset": dataset.name, **report, "computed_in_s": round(time.perf_counter() - started, 3)}


def audit_from_data(data: AuditData) -> dict:
    boot = ItemBootstrap(data.n_items)
    majority = loo_majority(data)
    reference = reference_side(data, majority)
    ind = indicators(data, majority, reference)
    positions, _ = sessions(data)
    agreement = agreement_summary(data, boot)
    cohen_pairs = agreement.pop("cohen_kappa_pairs")
    biases = dataset_biases(data, ind, boot, positions)
    biases.update(group_breakdowns(data, ind))
    quality = dawid_skene_one_coin(data)
    return {
        "n_judgements": data.n,
        "n_pairs": data.n_items,
        "n_labellers": data.n_labellers,
        "agreement": agreement,
        "agreement_by_week": agreement_by_week(data, SEED, N_BOOT),
        "labellers": labeller_table(data, ind, majority, quality),
        "biases": biases,
        "leaderboard": leaderboard(data),
        "method": {
            "n_bootstrap": N_BOOT,
            "seed": SEED,
            "cohen_min_shared_items": MIN_SHARED,
            "cohen_kappa_pairs": cohen_pairs,
            "flag_family_error_rate": ALPHA,
            "flag_minimum_samples": MIN_N,
            "n_repeats": int(len(data.repeat_item)),
        },
    }
