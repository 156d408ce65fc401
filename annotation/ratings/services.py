"""The "rate one response" queue: leasing rating items, rating, skipping, revising, and returning
expired leases.

A parallel, small implementation of the comparison queue (annotation.labelling.services), with the
same rules: leases that expire, overlap_k ratings per item, gold checks (items with a gold label)
and planned repeats that take no slot, idempotency keys. The comparison queue's hot path is
hand-written SQL tuned to pairs; this one is the ORM, with the same locking rule: an item's slots
(n_ratings, n_leased) change only under that item's row lock, in the transaction of the lease or
rating that causes it, and a labeller's queue requests in a dataset are serialised by the lock on
their membership (queue_sql.membership_lock). On PostgreSQL an open item is picked with
FOR UPDATE SKIP LOCKED, and the slot check is re-evaluated on the locked row.
"""
import random
from collections import Counter
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation.labelling import queue_sql
from annotation.labelling.checks import TIME_MS_MAX, clean_time_ms
from annotation.labelling.services import NotAssigned
from annotation.models import RATIONALE_MAX_CHARS, Dataset, Labeller, Rating, RatingAssignment, RatingItem
from annotation.ratings.checks import clean_flags, clean_label
from annotation.ratings.selectors import items_unseen_by
from common.exceptions import ApplicationError
from common.validation import text_clean

# As in the comparison queue: a planned repeat comes after at least this many other ratings.
REPEAT_GAP = 5
SWEEP_PROBABILITY = 0.02
SKIP_REASON_MAX = RatingAssignment._meta.get_field("skip_reason").max_length
IDEMPOTENCY_KEY_MAX = Rating._meta.get_field("idempotency_key").max_length
_system_random = random.SystemRandom()


def holds_slot(lease: RatingAssignment) -> bool:
    """Planned repeats and gold checks are extra: they never take one of the item's slots."""
    return not lease.is_repeat and not lease.is_gold


def _leases_end(locked_leases) -> int:
    """Marks the active leases of `locked_leases` (a select_for_update queryset) expired and gives
    their slots back. Runs in the caller's transaction."""
    ended = list(locked_leases.values_list("pk", "item_id", "is_repeat", "is_gold"))
    if not ended:
        return 0
    RatingAssignment.objects.filter(pk__in=[row[0] for row in ended]).update(status=RatingAssignment.Status.EXPIRED)
    freed = Counter(item_id for _, item_id, is_repeat, is_gold in ended if not is_repeat and not is_gold)
    for item_id in sorted(freed):  # id order: two callers never lock the same items in opposite orders
        RatingItem.objects.filter(pk=item_id).update(n_leased=F("n_leased") - freed[item_id])
    return len(ended)


def _expire_due(*, now) -> int:
    return _leases_end(
        RatingAssignment.objects.select_for_update(skip_locked=True)
        .filter(status=RatingAssignment.Status.ACTIVE, expires_at__lte=now)[:500]
    )


@transaction.atomic
def rating_leases_expire(*, now=None) -> int:
    """Returns the slots of abandoned rating leases to the queue (beat runs it with the pairs')."""
    return _expire_due(now=now or timezone.now())


def rating_leases_end_for(*, labeller_ids, dataset: Dataset) -> int:
    """Ends the labellers' active rating leases in the dataset (they were removed from it). Runs in
    the caller's transaction; waits for leases a submit holds, so none stays active."""
    return _leases_end(
        RatingAssignment.objects.select_for_update(of=("self",))
        .filter(labeller_id__in=labeller_ids, item__dataset=dataset, status=RatingAssignment.Status.ACTIVE)
        .order_by("pk")
    )


def _lease(*, labeller, item_id, is_repeat=False, is_gold=False, expires_at) -> RatingAssignment:
    if not is_repeat and not is_gold:
        RatingItem.objects.filter(pk=item_id).update(n_leased=F("n_leased") + 1)
    lease = RatingAssignment.objects.create(item_id=item_id, labeller=labeller, is_repeat=is_repeat, is_gold=is_gold,
                                            expires_at=expires_at)
    lease.item = RatingItem.objects.select_related("response__prompt").get(pk=item_id)  # what the labeller is shown
    return lease


def _repeat_due_item_id(*, labeller: Labeller, dataset_id: int) -> int | None:
    """The item of the labeller's oldest first rating made in the app before their last REPEAT_GAP
    ratings in the dataset, that they have neither repeated nor been leased as a repeat."""
    mine = Rating.objects.filter(labeller=labeller, item__dataset_id=dataset_id, source=Rating.Source.APP)
    cutoff = mine.order_by("-created_at", "-id").values_list("created_at", flat=True)[REPEAT_GAP - 1:REPEAT_GAP].first()
    if cutoff is None:
        return None
    repeated = set(mine.filter(is_repeat=True).values_list("item_id", flat=True))
    repeated |= set(RatingAssignment.objects.filter(
        labeller=labeller, item__dataset_id=dataset_id, is_repeat=True,
        status__in=[RatingAssignment.Status.ACTIVE, RatingAssignment.Status.SKIPPED],
    ).values_list("item_id", flat=True))
    firsts = (mine.filter(is_repeat=False, revision_of__isnull=True, created_at__lt=cutoff)
              .exclude(item_id__in=repeated).order_by("created_at", "id"))
    return firsts.values_list("item_id", flat=True).first()


def _gold_item_id(*, labeller: Labeller, dataset_id: int) -> int | None:
    """A gold item the labeller has not seen; gold checks are not limited by overlap_k."""
    return (items_unseen_by(labeller=labeller, dataset_id=dataset_id).filter(gold_label__isnull=False)
            .order_by("n_ratings", "id").values_list("pk", flat=True).first())


# selectors.items_open_to's rule as one SQL statement: building it with the ORM on every lease
# cost more CPU than running it (docs/benchmarks.md). The ORDER BY walks rating_item_queue_order.
_OPEN_ITEM = (
    f"SELECT i.id FROM {RatingItem._meta.db_table} i WHERE i.dataset_id = %s AND i.gold_label IS NULL "
    "AND i.n_ratings + i.n_leased < %s "
    f"AND NOT EXISTS (SELECT 1 FROM {Rating._meta.db_table} r WHERE r.item_id = i.id AND r.labeller_id = %s "
    "AND r.is_repeat = false AND r.revision_of_id IS NULL) "
    f"AND NOT EXISTS (SELECT 1 FROM {RatingAssignment._meta.db_table} a WHERE a.item_id = i.id AND a.labeller_id = %s "
    f"AND a.status IN ('{RatingAssignment.Status.ACTIVE.value}', '{RatingAssignment.Status.SKIPPED.value}')) "
    "ORDER BY i.n_ratings + i.n_leased DESC, i.id DESC LIMIT 1"
)


def _open_item_locked(*, labeller: Labeller, dataset: Dataset) -> int | None:
    """The open item closest to overlap_k (selectors.items_open_to), locked: items other labellers
    are leasing right now are skipped, not waited for, and PostgreSQL re-checks the slot condition
    on the locked row. On SQLite the transaction runs alone (BEGIN IMMEDIATE)."""
    lock = " FOR UPDATE OF i SKIP LOCKED" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_ITEM + lock, [dataset.pk, dataset.overlap_k, labeller.pk, labeller.pk])
        row = cursor.fetchone()
    return row[0] if row else None


def _settings(*, labeller: Labeller, dataset_id: int) -> Dataset:
    """Locks the labeller's membership of the dataset (as queue_sql.membership_lock does: one
    labeller's queue requests in a dataset run one at a time) and reads the dataset's rules, in
    one query."""
    membership = Dataset.labellers.through.objects.filter(dataset_id=dataset_id, labeller_id=labeller.pk)
    row = (membership.select_for_update(of=("self",))
           .values_list("dataset__overlap_k", "dataset__repeat_rate", "dataset__gold_rate", "dataset__lease_minutes",
                        "dataset__mode").first())
    if row is None:
        raise NotAssigned(f"You are not assigned to dataset {dataset_id}.")
    overlap_k, repeat_rate, gold_rate, lease_minutes, mode = row
    if mode != Dataset.Mode.RATE:
        raise ApplicationError(f"Dataset {dataset_id} is for comparing pairs, not for rating single responses.")
    return Dataset(pk=dataset_id, overlap_k=overlap_k, repeat_rate=repeat_rate, gold_rate=gold_rate,
                   lease_minutes=lease_minutes, mode=mode)


@transaction.atomic
def rating_lease_next(*, labeller: Labeller, dataset_id: int, rng: random.Random | None = None,
                      now=None) -> RatingAssignment | None:
    """The labeller's current rating lease in the dataset, or a new one; None when nothing is left.

    A new lease is, in this order of preference: a planned repeat (with probability repeat_rate,
    when one is due), a gold item (with probability gold_rate, when one is left unseen), else the
    open item closest to overlap_k, which takes one of its slots."""
    rng, now = rng or _system_random, now or timezone.now()
    dataset = _settings(labeller=labeller, dataset_id=dataset_id)
    if rng.random() < SWEEP_PROBABILITY:
        _expire_due(now=now)
    current = (RatingAssignment.objects.filter(labeller=labeller, item__dataset_id=dataset_id,
                                               status=RatingAssignment.Status.ACTIVE, expires_at__gt=now)
               .select_related("item__response__prompt").order_by("created_at").first())
    if current is not None:
        return current
    expires_at = now + timedelta(minutes=dataset.lease_minutes)
    repeat_draw, gold_draw = rng.random(), rng.random()
    if repeat_draw < dataset.repeat_rate:
        item_id = _repeat_due_item_id(labeller=labeller, dataset_id=dataset_id)
        if item_id is not None:
            return _lease(labeller=labeller, item_id=item_id, is_repeat=True, expires_at=expires_at)
    if gold_draw < dataset.gold_rate:
        item_id = _gold_item_id(labeller=labeller, dataset_id=dataset_id)
        if item_id is not None:
            return _lease(labeller=labeller, item_id=item_id, is_gold=True, expires_at=expires_at)
    item_id = _open_item_locked(labeller=labeller, dataset=dataset)
    if item_id is None and _expire_due(now=now):
        item_id = _open_item_locked(labeller=labeller, dataset=dataset)
    return None if item_id is None else _lease(labeller=labeller, item_id=item_id, expires_at=expires_at)


def _lock_lease(*, labeller: Labeller, assignment_id: int) -> tuple[RatingAssignment, Dataset]:
    lease = (RatingAssignment.objects.select_for_update(of=("self",)).select_related("item__dataset")
             .filter(pk=assignment_id, labeller=labeller).first())
    if lease is None:
        raise ApplicationError(f"Rating assignment {assignment_id} is not one of yours.")
    dataset = lease.item.dataset
    if queue_sql.membership_lock(labeller_id=labeller.pk, dataset_id=dataset.pk) is None:
        raise ApplicationError(f"You were removed from dataset {dataset.pk}: your lease {assignment_id} there was "
                               "released and nothing was saved.")
    return lease, dataset


@transaction.atomic
def rating_lease_skip(*, labeller: Labeller, assignment_id: int, reason: str) -> RatingAssignment:
    """Gives the item back without rating it; the labeller is not offered it again."""
    reason = text_clean(reason or "", name="skip reason", max_chars=SKIP_REASON_MAX)
    if not reason:
        raise ApplicationError("Say why you skip this response (a reason is required).")
    lease, _ = _lock_lease(labeller=labeller, assignment_id=assignment_id)
    if lease.status != RatingAssignment.Status.ACTIVE:
        raise ApplicationError(f"Rating assignment {assignment_id} is {lease.get_status_display().lower()}; "
                               "it cannot be skipped.")
    lease.status, lease.skip_reason = RatingAssignment.Status.SKIPPED, reason
    lease.save(update_fields=["status", "skip_reason"])
    if holds_slot(lease):
        RatingItem.objects.filter(pk=lease.item_id).update(n_leased=F("n_leased") - 1)
    return lease


def _replay(*, labeller, idempotency_key: str, item_id: int) -> Rating | None:
    if not idempotency_key:
        return None
    earlier = Rating.objects.filter(labeller=labeller, idempotency_key=idempotency_key).first()
    if earlier is not None and earlier.item_id != item_id:
        raise ApplicationError(f"Idempotency key '{idempotency_key}' was already used for another response.")
    return earlier


@transaction.atomic
def _rating_submit(*, labeller, assignment_id, label, rationale, flags, time_ms, idempotency_key, now) -> Rating:
    lease, dataset = _lock_lease(labeller=labeller, assignment_id=assignment_id)
    if lease.status in (RatingAssignment.Status.COMPLETED, RatingAssignment.Status.SKIPPED):
        replay = _replay(labeller=labeller, idempotency_key=idempotency_key, item_id=lease.item_id)
        if replay is not None:
            return replay
        raise ApplicationError(f"Rating assignment {assignment_id} is already {lease.get_status_display().lower()}; "
                               "revise your rating instead.")
    if lease.is_repeat:
        ratings, leased = 0, 0  # repeats measure self-consistency and are not counted
    elif lease.status == RatingAssignment.Status.ACTIVE:
        ratings, leased = 1, (0 if lease.is_gold else -1)  # the lease's slot becomes a rating
    elif lease.is_gold:
        ratings, leased = 1, 0
    else:
        # The lease expired and its slot went back to the queue: take a slot again if one is open.
        item = RatingItem.objects.select_for_update().get(pk=lease.item_id)
        if item.n_ratings + item.n_leased >= dataset.overlap_k:
            raise ApplicationError("Your lease on this response expired and others have rated it since; "
                                   "nothing was saved.")
        ratings, leased = 1, 0
    if time_ms is None:
        time_ms = max(0, int((now - lease.created_at).total_seconds() * 1000))
    rating = Rating.objects.create(
        item_id=lease.item_id, labeller=labeller, label=label, rationale=rationale, flags=flags,
        time_ms=min(time_ms, TIME_MS_MAX), created_at=now, is_repeat=lease.is_repeat, idempotency_key=idempotency_key,
    )
    if ratings or leased:
        RatingItem.objects.filter(pk=lease.item_id).update(n_ratings=F("n_ratings") + ratings,
                                                           n_leased=F("n_leased") + leased)
    lease.status, lease.rating = RatingAssignment.Status.COMPLETED, rating
    lease.save(update_fields=["status", "rating"])
    return rating


def rating_submit(*, labeller: Labeller, assignment_id: int, label, rationale: str = "", flags=None, time_ms=None,
                  idempotency_key: str = "", now=None) -> Rating:
    """Records the labeller's thumbs up (label True) or down of their leased response and closes
    the lease, in one transaction. Accepted while the lease is active, or after it ran out while a
    slot is still open. A retry with the same idempotency key returns the first rating. time_ms is
    the client's time on task; when absent it is measured from the lease's start."""
    idempotency_key = text_clean(idempotency_key or "", name="idempotency_key", max_chars=IDEMPOTENCY_KEY_MAX)
    args = dict(
        labeller=labeller, assignment_id=assignment_id, label=clean_label(label),
        rationale=text_clean(rationale or "", name="rationale", max_chars=RATIONALE_MAX_CHARS),
        flags=clean_flags(flags), time_ms=clean_time_ms(time_ms), idempotency_key=idempotency_key,
        now=now or timezone.now(),
    )
    try:
        return _rating_submit(**args)
    except IntegrityError:
        if not idempotency_key:
            raise
        # The key is taken by an earlier rating of another response (refused) or of this one.
        item_id = RatingAssignment.objects.filter(pk=assignment_id).values_list("item_id", flat=True).first()
        replay = _replay(labeller=labeller, idempotency_key=idempotency_key, item_id=item_id)
        if replay is None:
            raise
        return replay


@transaction.atomic
def rating_revise(*, labeller: Labeller, rating_id: int, label, rationale: str = "", flags=None, time_ms=None,
                  now=None) -> Rating:
    """A new rating replacing one of the labeller's own; the original is kept, marked superseded."""
    label, flags = clean_label(label), clean_flags(flags)
    rationale = text_clean(rationale or "", name="rationale", max_chars=RATIONALE_MAX_CHARS)
    original = (Rating.objects.select_for_update(of=("self",)).select_related("item")
                .filter(pk=rating_id, labeller=labeller).first())
    if original is None:
        raise ApplicationError(f"Rating {rating_id} is not one of yours.")
    if original.superseded:
        raise ApplicationError(f"Rating {rating_id} was already revised; revise the latest version.")
    if queue_sql.membership_lock(labeller_id=labeller.pk, dataset_id=original.item.dataset_id) is None:
        raise ApplicationError(f"You were removed from dataset {original.item.dataset_id}: your ratings there can "
                               "no longer be revised.")
    original.superseded = True
    original.save(update_fields=["superseded"])
    return Rating.objects.create(
        item_id=original.item_id, labeller=labeller, label=label, rationale=rationale, flags=flags,
        time_ms=clean_time_ms(time_ms), created_at=now or timezone.now(), is_repeat=original.is_repeat,
        revision_of=original,
    )
