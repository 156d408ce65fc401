import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.labelling import services
from annotation.tasks import assignments_expire
from annotation.models import Assignment, Judgement, Pair
from common.exceptions import ApplicationError
from tests.factories import LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def judge_next(labeller, dataset, *, rng=None, choice="a", now=None):
    lease = services.assignment_next(labeller=labeller, dataset=dataset, rng=rng, now=now)
    assert lease is not None
    services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice=choice, now=now)
    return lease


def test_next_returns_the_active_lease_until_it_is_judged(make_dataset):
    dataset, pairs, (labeller,) = make_dataset(n_pairs=3)
    first = services.assignment_next(labeller=labeller, dataset=dataset)
    again = services.assignment_next(labeller=labeller, dataset=dataset)
    assert again.pk == first.pk
    assert Pair.objects.get(pk=first.pair_id).n_leased == 1
    services.judgement_submit(labeller=labeller, assignment_id=first.pk, choice="tie")
    second = services.assignment_next(labeller=labeller, dataset=dataset)
    assert second.pair_id != first.pair_id


def test_a_labeller_never_gets_a_pair_twice_and_the_queue_ends(make_dataset):
    dataset, pairs, (labeller,) = make_dataset(n_pairs=4)
    seen = [judge_next(labeller, dataset).pair_id for _ in range(4)]
    assert sorted(seen) == sorted(p.pk for p in pairs)
    assert services.assignment_next(labeller=labeller, dataset=dataset) is None


def test_prefers_the_pair_closest_to_overlap_k(make_dataset):
    dataset, pairs, (labeller, other) = make_dataset(n_pairs=3, n_labellers=2, overlap_k=3)
    judge_next(other, dataset)
    started = Judgement.objects.get(labeller=other).pair_id
    assert services.assignment_next(labeller=labeller, dataset=dataset).pair_id == started


def test_full_pairs_are_not_handed_out(make_dataset):
    dataset, (pair,), (one, two, three) = make_dataset(n_pairs=1, n_labellers=3, overlap_k=2)
    judge_next(one, dataset)
    assert services.assignment_next(labeller=two, dataset=dataset) is not None
    # one judgement + one active lease = overlap_k: nothing for the third labeller
    assert services.assignment_next(labeller=three, dataset=dataset) is None


def test_left_right_order_is_drawn_per_lease_and_recorded(make_dataset):
    dataset, pairs, labellers = make_dataset(n_pairs=1, n_labellers=12, overlap_k=12)
    rng = random.Random(4)
    sides = set()
    for labeller in labellers:
        lease = services.assignment_next(labeller=labeller, dataset=dataset, rng=rng)
        judgement = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="left")
        assert judgement.shown_left == lease.shown_left
        assert judgement.choice == lease.shown_left  # "left" is resolved to the side shown there
        sides.add(lease.shown_left)
    assert sides == {"a", "b"}


def test_only_labellers_assigned_to_the_dataset(make_dataset):
    dataset, pairs, _ = make_dataset(n_pairs=1)
    with pytest.raises(ApplicationError, match="not assigned"):
        services.assignment_next(labeller=LabellerFactory(), dataset=dataset)


def test_expired_leases_return_their_slot(make_dataset):
    dataset, (pair,), (one, two) = make_dataset(n_pairs=1, n_labellers=2, overlap_k=1, lease_minutes=30)
    abandoned = services.assignment_next(labeller=one, dataset=dataset)
    assert services.assignment_next(labeller=two, dataset=dataset) is None
    later = timezone.now() + timedelta(minutes=31)
    taken_over = services.assignment_next(labeller=two, dataset=dataset, now=later)
    assert taken_over.pair_id == pair.pk
    abandoned.refresh_from_db()
    assert abandoned.status == Assignment.Status.EXPIRED
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (0, 1)
    # the first labeller comes back too late: the slot is gone, nothing is saved
    with pytest.raises(ApplicationError, match="expired"):
        services.judgement_submit(labeller=one, assignment_id=abandoned.pk, choice="a", now=later)
    services.judgement_submit(labeller=two, assignment_id=taken_over.pk, choice="b", now=later)
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (1, 0)


def test_a_just_expired_lease_is_still_accepted_while_its_slot_is_open(make_dataset):
    dataset, (pair,), (one,) = make_dataset(n_pairs=1, overlap_k=1, lease_minutes=1)
    lease = services.assignment_next(labeller=one, dataset=dataset)
    later = timezone.now() + timedelta(minutes=2)
    assert services.assignments_expire(now=later) == 1
    services.judgement_submit(labeller=one, assignment_id=lease.pk, choice="a", now=later)
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (1, 0)


def test_skip_needs_a_reason_returns_the_slot_and_is_not_offered_again(make_dataset):
    dataset, (pair,), (labeller,) = make_dataset(n_pairs=1)
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    with pytest.raises(ApplicationError, match="reason"):
        services.assignment_skip(labeller=labeller, assignment_id=lease.pk, reason="  ")
    services.assignment_skip(labeller=labeller, assignment_id=lease.pk, reason="Language I do not read")
    pair.refresh_from_db()
    assert pair.n_leased == 0
    assert services.assignment_next(labeller=labeller, dataset=dataset) is None
    with pytest.raises(ApplicationError, match="skipped"):
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a")


def test_repeats_come_after_a_gap_are_marked_and_not_counted(make_dataset):
    dataset, pairs, (labeller,) = make_dataset(n_pairs=12, repeat_rate=1.0, overlap_k=1)
    rng = random.Random(1)
    order = []
    for _ in range(16):
        lease = services.assignment_next(labeller=labeller, dataset=dataset, rng=rng)
        if lease is None:
            break
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="tie")
        order.append((lease.pair_id, lease.is_repeat))
    repeats = [i for i, (_, is_repeat) in enumerate(order) if is_repeat]
    assert repeats, "repeat_rate=1 must schedule repeats once the gap has passed"
    for i in repeats:
        pair_id = order[i][0]
        first = next(j for j, (p, r) in enumerate(order) if p == pair_id and not r)
        assert i - first > services.REPEAT_GAP - 1  # at least REPEAT_GAP other judgements between
    assert all(not r for _, r in order[: services.REPEAT_GAP])
    repeated_judgements = Judgement.objects.filter(labeller=labeller, is_repeat=True)
    assert repeated_judgements.count() == len(repeats)
    # repeats do not count towards overlap_k: every pair was counted once
    assert set(Pair.objects.filter(dataset=dataset).values_list("n_judgements", flat=True)) <= {0, 1}
    assert Judgement.objects.filter(labeller=labeller, is_repeat=False).count() == len(order) - len(repeats)


def test_gold_items_are_mixed_in_for_every_labeller(make_dataset):
    dataset, pairs, (one, two) = make_dataset(n_pairs=2, n_labellers=2, gold_rate=1.0, overlap_k=1)
    gold = PairFactory(dataset=dataset, gold="a")
    for labeller in (one, two):
        lease = services.assignment_next(labeller=labeller, dataset=dataset, rng=random.Random(0))
        assert (lease.pair_id, lease.is_gold) == (gold.pk, True)
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a")
    gold.refresh_from_db()
    assert (gold.n_judgements, gold.n_leased) == (2, 0)


def test_the_beat_task_returns_expired_leases(make_dataset):
    dataset, (pair,), (labeller,) = make_dataset(n_pairs=1)
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire() == 1
    pair.refresh_from_db()
    assert pair.n_leased == 0 and Assignment.objects.get(pk=lease.pk).status == Assignment.Status.EXPIRED
