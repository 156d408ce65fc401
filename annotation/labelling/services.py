"""The labelling queue: leasing pairs to labellers, skipping them, and returning expired leases.

Correctness under concurrency rests on one rule: every change to a pair's slots (n_judgements,
n_leased) happens under that pair's row lock, in the same transaction as the lease or judgement
that causes it. On PostgreSQL the queue takes that lock with SELECT ... FOR UPDATE SKIP LOCKED, so
two labellers never wait on (or both get) the same open slot; after the lock PostgreSQL re-checks
`n_judgements + n_leased - extra_overlap < overlap_k` on the newest row version. On SQLite, row locks do not exist,
but every transaction here is `BEGIN IMMEDIATE` (settings), so write transactions run one at a time
and the same check is exact; the busy timeout makes a second writer wait instead of failing.
"""
import random
from collections import Counter
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.labelling import queue_sql
from annotation.labelling.checks import TIME_MS_MAX, clean_judgement, clean_time_ms
from annotation.labelling.selectors import pairs_unseen_by
from annotation.models import RATIONALE_MAX_CHARS, Assignment, Dataset, Judgement, Labeller, Pair
from common.exceptions import ApplicationError
from common.validation import text_clean

# A planned repeat comes after at least this many other judgements of the same labeller, so it is
# never shown back-to-back with the original and the labeller is unlikely to remember it.
REPEAT_GAP = 5
# Each request sweeps expired leases with this probability, and always when it finds no open pair;
# beat also sweeps every minute (annotation.tasks). Leases last many minutes, so an occasional
# sweep returns slots in time and spares the hot path.
SWEEP_PROBABILITY = 0.02
SKIP_REASON_MAX = Assignment._meta.get_field("skip_reason").max_length
IDEMPOTENCY_KEY_MAX = Judgement._meta.get_field("idempotency_key").max_length
_system_random = random.SystemRandom()


def holds_slot(lease: Assignment) -> bool:
    """Planned repeats and gold checks are extra: they never take one of the pair's overlap_k slots."""
    return not lease.is_repeat and not lease.is_gold


class NotAssigned(ApplicationError):
    """The labeller is not assigned to the dataset (the API answers 403)."""


def _leases_end(locked_leases) -> int:
    """Marks the active leases of `locked_leases` (a select_for_update queryset: they are locked
    when read here) expired and gives their slots back. Runs inside the caller's transaction."""
    ended = list(locked_leases.values_list("pk", "pair_id", "is_repeat", "is_gold"))
    if not ended:
        return 0
    Assignment.objects.filter(pk__in=[row[0] for row in ended]).update(status=Assignment.Status.EXPIRED)
    freed = Counter(pair_id for _, pair_id, is_repeat, is_gold in ended if not is_repeat and not is_gold)
    # One pair at a time in id order: two callers never lock the same pairs in opposite orders.
    for pair_id in sorted(freed):
        Pair.objects.filter(pk=pair_id).update(n_leased=F("n_leased") - freed[pair_id])
    return len(ended)


def _expire_due(*, now) -> int:
    """Marks active leases past their end as expired and gives their slots back. Runs inside the
    caller's transaction; leases another transaction holds are left for the next sweep."""
    return _leases_end(
        Assignment.objects.select_for_update(skip_locked=True)
        .filter(status=Assignment.Status.ACTIVE, expires_at__lte=now)[:500]
    )


@transaction.atomic
def dataset_labellers_set(*, dataset: Dataset, labellers: list[Labeller]) -> None:
    """Assigns exactly `labellers` to the dataset (the API and the Django admin both come here).
    A labeller removed loses her active leases in it at once (their slots go back to the queue),
    and the queue and the revision of her judgements there refuse her from then on.

    Deleting her membership waits for any queue request of hers in flight, which holds that row's
    lock (queue_sql.membership_lock); the leases are read after that, so none taken meanwhile is
    missed, and later requests find no membership."""
    removed = set(dataset.labellers.values_list("pk", flat=True)) - {labeller.pk for labeller in labellers}
    dataset.labellers.set(labellers)
    if removed:
        # Waits for (rather than skips) leases that a submit holds: a lease must not stay active.
        _leases_end(
            Assignment.objects.select_for_update(of=("self",)).filter(
                labeller_id__in=removed, pair__dataset=dataset, status=Assignment.Status.ACTIVE
            ).order_by("pk")
        )
        from annotation.ratings.services import rating_leases_end_for  # it imports NotAssigned from here

        rating_leases_end_for(labeller_ids=removed, dataset=dataset)


def _dataset_lock(dataset: Dataset) -> None:
    """Serialises membership changes of one dataset, so that an add or a remove, which read the
    members and then set them, never undoes another's change made in between. NO KEY UPDATE, like
    the dataset's own UPDATE: inserting a membership (KEY SHARE on the dataset) does not wait on it."""
    Dataset.objects.select_for_update(no_key=True).filter(pk=dataset.pk).values_list("pk").first()


@transaction.atomic
def dataset_labellers_add(*, dataset: Dataset, labellers: list[Labeller]) -> None:
    """Assigns `labellers` to the dataset besides its members (those already members stay as they
    are). A labeller whose account is deactivated cannot be assigned."""
    inactive = sorted(labeller.user.username for labeller in labellers if not labeller.user.is_active)
    if inactive:
        raise ApplicationError(f"These accounts are deactivated and cannot be assigned: {', '.join(inactive)}")
    _dataset_lock(dataset)
    dataset_labellers_set(dataset=dataset, labellers=[*dataset.labellers.all(), *labellers])


@transaction.atomic
def dataset_labellers_remove(*, dataset: Dataset, labellers: list[Labeller]) -> None:
    """Unassigns `labellers`, who must be members; like every removal (dataset_labellers_set), their
    active leases in the dataset end at once."""
    _dataset_lock(dataset)
    members = list(dataset.labellers.select_related("user"))
    removed = {labeller.pk for labeller in labellers}
    not_members = sorted({labeller.user.username for labeller in labellers} - {m.user.username for m in members})
    if not_members:
        raise ApplicationError(f"Not labellers of dataset {dataset.name!r}: {', '.join(not_members)}")
    dataset_labellers_set(dataset=dataset, labellers=[m for m in members if m.pk not in removed])


@transaction.atomic
def labeller_leases_end(*, labeller: Labeller) -> int:
    """Ends the labeller's active leases in every dataset (their slots go back to the queue), as
    when an account is deactivated; waits for a submit that holds one."""
    return _leases_end(
        Assignment.objects.select_for_update(of=("self",))
        .filter(labeller=labeller, status=Assignment.Status.ACTIVE).order_by("pk")
    )


@transaction.atomic
def assignments_delete(*, assignments) -> None:
    """Deletes leases (a queryset), ending the active ones first so that their slots go back."""
    _leases_end(assignments.select_for_update(of=("self",)).filter(status=Assignment.Status.ACTIVE).order_by("pk"))
    assignments.delete()


@transaction.atomic
def assignments_expire(*, now=None) -> int:
    """Returns the slots of abandoned leases to the queue (the queue also sweeps now and then)."""
    return _expire_due(now=now or timezone.now())


def _gold_pair_id(*, labeller: Labeller, dataset: Dataset) -> int | None:
    """A gold item this labeller has not seen. Gold items check the labeller, so every labeller
    may get them: they are not limited by overlap_k and take no slot."""
    return (
        pairs_unseen_by(labeller=labeller, dataset=dataset)
        .exclude(gold="")
        .order_by("n_judgements", "id")
        .values_list("pk", flat=True)
        .first()
    )


def _lease_next(*, labeller: Labeller, dataset_id: int, rng: random.Random, now) -> dict | None:
    """The labeller's current lease in the dataset, or a new one, as queue_sql.lease_shown returns
    it; None when nothing is left for them. Runs in the caller's transaction."""
    # Every draw comes first: on PostgreSQL the statement that leases an open pair goes out with
    # the one that locks the labeller's membership, before the dataset's settings are back.
    sweep = rng.random() < SWEEP_PROBABILITY
    # created_at is the real time the lease starts (time on task is measured from it), `now` the
    # time the queue reasons with (tests move it forward to expire leases).
    lease = dict(labeller_id=labeller.pk, shown_left=rng.choice("ab"), created_at=timezone.now())
    repeat_draw, gold_draw = rng.random(), rng.random()
    if sweep:
        _expire_due(now=now)
    # The common case, in one round trip on PostgreSQL: the current lease, or a new one of an open pair.
    settings, shown = queue_sql.membership_lock_and_lease(
        dataset_id=dataset_id, now=now, repeat_draw=repeat_draw, gold_draw=gold_draw, **lease
    )
    if settings is None:
        raise NotAssigned(f"You are not assigned to dataset {dataset_id}.")
    if shown is not None:
        return shown
    _, repeat_rate, gold_rate, lease_minutes = settings
    extra = dict(lease, expires_at=now + timedelta(minutes=lease_minutes))
    if repeat_draw < repeat_rate:
        # A planned repeat comes after at least REPEAT_GAP other judgements of the labeller.
        pair_id = queue_sql.repeat_due_pair_id(labeller_id=labeller.pk, dataset_id=dataset_id, gap=REPEAT_GAP)
        if pair_id is not None:
            return queue_sql.lease_shown(assignment_id=queue_sql.lease_pair(pair_id=pair_id, is_repeat=True, is_gold=False, **extra))
    if gold_draw < gold_rate:
        pair_id = _gold_pair_id(labeller=labeller, dataset=Dataset(pk=dataset_id))
        if pair_id is not None:
            return queue_sql.lease_shown(assignment_id=queue_sql.lease_pair(pair_id=pair_id, is_repeat=False, is_gold=True, **extra))
    if repeat_draw < repeat_rate or gold_draw < gold_rate:  # drawn, but none was due: an open pair after all
        shown = queue_sql.lease_current_or_open_pair(dataset_id=dataset_id, now=now, **lease)
    if shown is None and _expire_due(now=now):
        shown = queue_sql.lease_current_or_open_pair(dataset_id=dataset_id, now=now, **lease)
    return shown


@transaction.atomic
def assignment_lease(*, labeller: Labeller, dataset_id: int, rng: random.Random | None = None, now=None) -> dict | None:
    """assignment_next as the API shows it (queue_sql.lease_shown: the conversation and the two
    responses in left/right order), read in the statement that leases the pair."""
    return _lease_next(labeller=labeller, dataset_id=dataset_id, rng=rng or _system_random, now=now or timezone.now())


@transaction.atomic
def assignment_next(
    *, labeller: Labeller, dataset: Dataset, rng: random.Random | None = None, now=None
) -> Assignment | None:
    """The labeller's current lease in the dataset, or a new one; None when nothing is left for them.

    A new lease is, in this order of preference: a planned repeat (with probability repeat_rate,
    when one is due), a gold item (with probability gold_rate, when one is left), else the open pair
    closest to overlap_k. Left/right order is drawn per lease and stored on it. The dataset's
    settings are read again under the lock, so only `dataset.pk` matters."""
    shown = _lease_next(
        labeller=labeller, dataset_id=dataset.pk, rng=rng or _system_random, now=now or timezone.now()
    )
    if shown is None:
        return None
    return Assignment.objects.select_related("pair__prompt", "pair__response_a", "pair__response_b").get(pk=shown["id"])


def _lock_lease(*, labeller: Labeller, assignment_id: int) -> tuple[Assignment, Dataset]:
    locked = queue_sql.lease_lock(labeller_id=labeller.pk, assignment_id=assignment_id)
    if locked is None:
        dataset_id = (Assignment.objects.filter(pk=assignment_id, labeller=labeller)
                      .values_list("pair__dataset_id", flat=True).first())
        if dataset_id is not None:  # hers, but she is no longer assigned to its dataset
            raise ApplicationError(
                f"You were removed from dataset {dataset_id}: your lease {assignment_id} there was released "
                "and nothing was saved."
            )
        raise ApplicationError(f"Assignment {assignment_id} is not one of yours.")
    return locked


@transaction.atomic
def assignment_skip(*, labeller: Labeller, assignment_id: int, reason: str) -> Assignment:
    """Gives the pair back without judging it; the labeller is not offered it again."""
    reason = text_clean(reason or "", name="skip reason", max_chars=SKIP_REASON_MAX)
    if not reason:
        raise ApplicationError("Say why you skip this pair (a reason is required).")
    lease, _ = _lock_lease(labeller=labeller, assignment_id=assignment_id)
    if lease.status != Assignment.Status.ACTIVE:
        raise ApplicationError(f"Assignment {assignment_id} is {lease.get_status_display().lower()}; it cannot be skipped.")
    lease.status = Assignment.Status.SKIPPED
    lease.skip_reason = reason
    lease.save(update_fields=["status", "skip_reason"])
    if holds_slot(lease):
        queue_sql.pair_slots_change(pair_id=lease.pair_id, judgements=0, leased=-1)
    return lease


def _idempotent_replay(*, labeller: Labeller, idempotency_key: str, pair_id: int) -> Judgement | None:
    if not idempotency_key:
        return None
    earlier = Judgement.objects.filter(labeller=labeller, idempotency_key=idempotency_key).first()
    if earlier is not None and earlier.pair_id != pair_id:
        raise ApplicationError(f"Idempotency key '{idempotency_key}' was already used for another pair.")
    return earlier


def _judgement_write(*, labeller, lease, dataset, choice, strength, rationale, flags, time_ms, idempotency_key, now):
    """Checks the judgement against the lease and its dataset, then writes it; None when the lease's
    status changed after it was read (the write is conditional on it)."""
    choice, strength, flags = clean_judgement(
        dataset=dataset, shown_left=lease.shown_left, choice=choice, strength=strength, flags=flags
    )
    time_ms = clean_time_ms(time_ms)
    if lease.is_repeat:
        slots = (0, 0)  # repeats measure self-consistency and are not counted
    elif lease.status == Assignment.Status.ACTIVE and not lease.is_gold:
        slots = (1, -1)  # the lease's slot becomes a judgement
    elif lease.is_gold:
        slots = (1, 0)
    else:
        # The lease expired and its slot went back to the queue: take a slot again if one is open
        # (only _judgement_submit gets here, in its transaction).
        pair = Pair.objects.select_for_update().get(pk=lease.pair_id)
        if pair.n_judgements + pair.n_leased - pair.extra_overlap >= dataset.overlap_k:
            raise ApplicationError("Your lease on this pair expired and others have judged it since; nothing was saved.")
        slots = (1, 0)
    if time_ms is None:
        time_ms = max(0, int((now - lease.created_at).total_seconds() * 1000))
    return queue_sql.judgement_insert_for_lease(lease=lease, labeller=labeller, slots=slots, fields=dict(
        choice=choice, strength=strength, rationale=rationale, flags=flags, time_ms=min(time_ms, TIME_MS_MAX),
        created_at=now, idempotency_key=idempotency_key,
    ))


def _judgement_submit_to_active_lease(*, labeller, assignment_id, **fields) -> Judgement | None:
    """The common case without a transaction: read the lease, then write the judgement in one
    statement that re-checks, under the lease's row lock, that it is still active. None when the
    lease is not an active one of the labeller's (or stopped being one in between): the caller
    then takes the locked path, which knows every case."""
    found = queue_sql.lease_lock(labeller_id=labeller.pk, assignment_id=assignment_id, lock=False)
    if found is None or found[0].status != Assignment.Status.ACTIVE:
        return None
    lease, dataset = found
    return _judgement_write(labeller=labeller, lease=lease, dataset=dataset, **fields)


@transaction.atomic
def _judgement_submit(*, labeller, assignment_id, idempotency_key, **fields):
    lease, dataset = _lock_lease(labeller=labeller, assignment_id=assignment_id)
    if lease.status in (Assignment.Status.COMPLETED, Assignment.Status.SKIPPED):
        # A retry of a request that went through (an active lease cannot have a judgement yet; a
        # key reused on another pair fails on the unique constraint, see judgement_submit).
        replay = _idempotent_replay(labeller=labeller, idempotency_key=idempotency_key, pair_id=lease.pair_id)
        if replay is not None:
            return replay
        raise ApplicationError(
            f"Assignment {assignment_id} is already {lease.get_status_display().lower()}; revise your judgement instead."
        )
    return _judgement_write(labeller=labeller, lease=lease, dataset=dataset, idempotency_key=idempotency_key, **fields)


def judgement_submit(
    *, labeller: Labeller, assignment_id: int, choice: str, strength=None, rationale: str = "",
    flags: dict | None = None, time_ms=None, idempotency_key: str = "", now=None,
) -> Judgement:
    """Records the labeller's judgement of their leased pair and closes the lease, in one transaction.

    Accepted while the lease is active, or expired but its slot still open. A retried request with
    the same idempotency key returns the first judgement. time_ms is the client's time on task; when
    absent it is measured on the server from the lease's start."""
    idempotency_key = text_clean(idempotency_key or "", name="idempotency_key", max_chars=IDEMPOTENCY_KEY_MAX)
    rationale = text_clean(rationale or "", name="rationale", max_chars=RATIONALE_MAX_CHARS)
    args = dict(
        labeller=labeller, assignment_id=assignment_id, choice=choice, strength=strength, rationale=rationale,
        flags=flags, time_ms=time_ms, idempotency_key=idempotency_key, now=now or timezone.now(),
    )
    try:
        return _judgement_submit_to_active_lease(**args) or _judgement_submit(**args)
    except IntegrityError:
        if not idempotency_key:
            raise
        # The key is taken: by this very request sent twice at once (the first one's judgement
        # stands), or by an earlier judgement of another pair (refused).
        pair_id = Assignment.objects.filter(pk=assignment_id).values_list("pair_id", flat=True).first()
        replay = _idempotent_replay(labeller=labeller, idempotency_key=idempotency_key, pair_id=pair_id)
        if replay is None:
            raise
        return replay


@transaction.atomic
def judgement_revise(
    *, labeller: Labeller, judgement_id: int, choice: str, strength=None, rationale: str = "",
    flags: dict | None = None, time_ms=None, now=None,
) -> Judgement:
    """A new judgement replacing one of the labeller's own; the original is kept, marked superseded."""
    rationale = text_clean(rationale or "", name="rationale", max_chars=RATIONALE_MAX_CHARS)
    original = (
        Judgement.objects.select_for_update(of=("self",)).select_related("pair__dataset")
        .filter(pk=judgement_id, labeller=labeller).first()
    )
    if original is None:
        raise ApplicationError(f"Judgement {judgement_id} is not one of yours.")
    if original.superseded:
        raise ApplicationError(f"Judgement {judgement_id} was already revised; revise the latest version.")
    # Under the membership's lock, so that a removal (dataset_labellers_set) is either seen or waits.
    if queue_sql.membership_lock(labeller_id=labeller.pk, dataset_id=original.pair.dataset_id) is None:
        raise ApplicationError(
            f"You were removed from dataset {original.pair.dataset_id}: your judgements there can no longer be revised."
        )
    choice, strength, flags = clean_judgement(
        dataset=original.pair.dataset, shown_left=original.shown_left, choice=choice, strength=strength, flags=flags
    )
    original.superseded = True
    original.save(update_fields=["superseded"])
    return Judgement.objects.create(
        pair_id=original.pair_id, labeller=labeller, choice=choice, strength=strength, rationale=rationale,
        flags=flags, shown_left=original.shown_left, time_ms=clean_time_ms(time_ms), created_at=now or timezone.now(),
        is_repeat=original.is_repeat, revision_of=original,
    )
