"""The queue under concurrent labellers, each thread with its own database connection.

Runs on whichever database the suite is configured with: PostgreSQL in CI (row locks with SKIP
LOCKED), SQLite with `make test` on a fresh machine (IMMEDIATE transactions, WAL, busy timeout)."""
import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models import Count, Q
from django.utils import timezone

from annotation.labelling import services
from annotation.models import Assignment, Judgement, Pair
from common.exceptions import ApplicationError
from tests.factories import PairFactory

THREADS = 8


def run_threads(target, args_list):
    """Runs target(*args) in one thread each, all released together; re-raises the first error."""
    barrier = threading.Barrier(len(args_list))
    errors, results = [], [None] * len(args_list)

    def body(i, args):
        try:
            barrier.wait()
            results[i] = target(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i, args)) for i, args in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def label_until_empty(labeller, dataset, seed, now=None):
    """One labeller's session: judge (sometimes sending the same request twice), sometimes skip,
    until the queue has nothing left for them. Returns what the services handed back."""
    rng = random.Random(seed)
    judged, skipped = [], []
    while (lease := services.assignment_next(labeller=labeller, dataset=dataset, rng=rng, now=now)) is not None:
        if rng.random() < 0.1:
            services.assignment_skip(labeller=labeller, assignment_id=lease.pk, reason="not my language")
            skipped.append(lease.pair_id)
            continue
        key = f"{labeller.pk}-{lease.pk}"
        choice = rng.choice(["a", "b", "tie", "both_bad"])
        judgement = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice=choice,
                                              idempotency_key=key, now=now)
        if rng.random() < 0.2:  # a client retry of the same request
            again = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice=choice,
                                              idempotency_key=key, now=now)
            assert again.pk == judgement.pk
        judged.append((judgement.pk, lease.pair_id))
    return judged, skipped


def assert_queue_consistent(dataset, overlap_k):
    pairs = Pair.objects.filter(dataset=dataset).annotate(
        counted=Count("judgements", filter=Q(judgements__is_repeat=False, judgements__superseded=False), distinct=True),
        active=Count("assignments", filter=Q(assignments__status=Assignment.Status.ACTIVE,
                                             assignments__is_repeat=False, assignments__is_gold=False), distinct=True),
    )
    for pair in pairs:
        assert pair.counted <= overlap_k, f"pair {pair.pk} has {pair.counted} judgements, overlap_k={overlap_k}"
        assert (pair.n_judgements, pair.n_leased) == (pair.counted, pair.active), f"pair {pair.pk} counters drifted"
    firsts = Judgement.objects.filter(pair__dataset=dataset, is_repeat=False, revision_of__isnull=True)
    duplicates = firsts.values("pair_id", "labeller_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("round_", "repeat_rate"), [(0, 0.0), (1, 0.5)])
def test_many_labellers_at_once_never_exceed_overlap_and_lose_nothing(make_dataset, round_, repeat_rate):
    overlap_k = 3
    dataset, pairs, labellers = make_dataset(
        n_pairs=16, n_labellers=THREADS, overlap_k=overlap_k, repeat_rate=repeat_rate
    )
    results = run_threads(label_until_empty, [(lab, dataset, 100 * round_ + i) for i, lab in enumerate(labellers)])
    assert_queue_consistent(dataset, overlap_k)
    # A labeller who found the queue empty while others held the last slots comes back once
    # everyone has finished: what others skipped meanwhile is theirs to judge now.
    results += [label_until_empty(lab, dataset, 1000 + i) for i, lab in enumerate(labellers)]

    assert_queue_consistent(dataset, overlap_k)
    returned = [jid for judged, _ in results for jid, _ in judged]
    assert len(returned) == len(set(returned))
    stored = set(Judgement.objects.filter(pair__dataset=dataset).values_list("id", flat=True))
    assert stored == set(returned)  # nothing lost, nothing extra
    # every pair reached overlap_k unless enough labellers skipped it
    skips = Counter(pair_id for _, skipped in results for pair_id in skipped)
    for pair in Pair.objects.filter(dataset=dataset):
        assert pair.n_judgements == min(overlap_k, THREADS - skips[pair.pk]), f"pair {pair.pk} left short"
    assert not Assignment.objects.filter(pair__dataset=dataset, status=Assignment.Status.ACTIVE).exists()
    if repeat_rate:
        assert Judgement.objects.filter(pair__dataset=dataset, is_repeat=True).exists()


@pytest.mark.django_db(transaction=True)
def test_no_two_labellers_get_the_last_open_slot(make_dataset):
    dataset, _, labellers = make_dataset(n_pairs=0, n_labellers=THREADS, overlap_k=1)
    for _ in range(10):
        pair = PairFactory(dataset=dataset)
        leases = run_threads(lambda lab: services.assignment_next(labeller=lab, dataset=dataset),
                             [(lab,) for lab in labellers])
        winners = [lease for lease in leases if lease is not None]
        assert len(winners) == 1 and winners[0].pair_id == pair.pk
        services.judgement_submit(labeller=winners[0].labeller, assignment_id=winners[0].pk, choice="a")
        assert_queue_consistent(dataset, 1)


@pytest.mark.django_db(transaction=True)
def test_abandoned_leases_expire_and_return_under_concurrency(make_dataset):
    overlap_k = 2
    dataset, pairs, labellers = make_dataset(n_pairs=12, n_labellers=THREADS, overlap_k=overlap_k, lease_minutes=30)
    abandoned = run_threads(lambda lab: services.assignment_next(labeller=lab, dataset=dataset),
                            [(lab,) for lab in labellers])
    assert all(abandoned)
    assert sum(Pair.objects.filter(dataset=dataset).values_list("n_leased", flat=True)) == THREADS

    # Half an hour later, everyone labels at once: the sweeps run concurrently and every slot returns.
    later = timezone.now() + timedelta(minutes=31)
    results = run_threads(label_until_empty, [(lab, dataset, i, later) for i, lab in enumerate(labellers)])
    results += [label_until_empty(lab, dataset, 1000 + i, later) for i, lab in enumerate(labellers)]
    for lease in abandoned:
        lease.refresh_from_db()
        assert lease.status == Assignment.Status.EXPIRED
        with pytest.raises(ApplicationError):
            services.judgement_submit(labeller=lease.labeller, assignment_id=lease.pk, choice="a", now=later)
    assert_queue_consistent(dataset, overlap_k)
    skips = Counter(pair_id for _, skipped in results for pair_id in skipped)
    for pair in Pair.objects.filter(dataset=dataset):
        assert pair.n_judgements == min(overlap_k, THREADS - skips[pair.pk])
    assert connection.vendor in ("postgresql", "sqlite")


@pytest.mark.django_db(transaction=True)
def test_the_same_submit_sent_many_times_at_once_makes_one_judgement(make_dataset):
    dataset, (pair,), (labeller,) = make_dataset(n_pairs=1, overlap_k=1)
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    made = run_threads(
        lambda: services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a", idempotency_key="once"),
        [()] * THREADS,
    )
    assert len({judgement.pk for judgement in made}) == 1
    assert Judgement.objects.get().pk == made[0].pk
    assert_queue_consistent(dataset, 1)
