import random
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.labelling.services import NotAssigned, dataset_labellers_set
from annotation.models import Rating, RatingAssignment, RatingItem
from annotation.ratings import services
from common.exceptions import ApplicationError
from tests.annotation.ratings.factories import RatingItemFactory
from tests.factories import DatasetFactory, LabellerFactory

pytestmark = pytest.mark.django_db


def lease_and_rate(labeller, dataset, label=True, **kwargs):
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk, rng=random.Random(0))
    return lease, services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=label, **kwargs)


def test_rating_twice_by_one_labeller_is_refused_by_the_database(make_rate_dataset):
    dataset, (item, *_), (labeller,) = make_rate_dataset()
    Rating.objects.create(item=item, labeller=labeller, label=True, created_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(item=item, labeller=labeller, label=False, created_at=timezone.now())


def test_a_repeat_rating_of_the_same_response_is_allowed(make_rate_dataset):
    dataset, (item, *_), (labeller,) = make_rate_dataset()
    Rating.objects.create(item=item, labeller=labeller, label=True, created_at=timezone.now())
    Rating.objects.create(item=item, labeller=labeller, label=False, created_at=timezone.now(), is_repeat=True)
    assert Rating.objects.filter(item=item).count() == 2


def test_two_active_leases_of_one_item_for_one_labeller_are_refused(make_rate_dataset):
    dataset, (item, *_), (labeller,) = make_rate_dataset()
    RatingAssignment.objects.create(item=item, labeller=labeller, expires_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingAssignment.objects.create(item=item, labeller=labeller, expires_at=timezone.now())


def test_a_lease_takes_a_slot_and_the_rating_turns_it_into_a_counted_rating(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    assert RatingItem.objects.get(pk=lease.item_id).n_leased == 1
    rating = services.rating_submit(labeller=labeller, assignment_id=lease.pk, label="down", flags=["harmful"])
    item = RatingItem.objects.get(pk=lease.item_id)
    assert (item.n_ratings, item.n_leased) == (1, 0)
    assert rating.label is False and rating.flags == ["harmful"]
    assert RatingAssignment.objects.get(pk=lease.pk).status == RatingAssignment.Status.COMPLETED


def test_asking_again_gives_back_the_current_lease(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    first = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    assert services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk).pk == first.pk


def test_an_item_goes_to_overlap_k_labellers_and_no_more(make_rate_dataset):
    dataset, (item,), labellers = make_rate_dataset(n_items=1, n_labellers=3, overlap_k=2)
    first = services.rating_lease_next(labeller=labellers[0], dataset_id=dataset.pk)
    second = services.rating_lease_next(labeller=labellers[1], dataset_id=dataset.pk)
    assert first.item_id == second.item_id == item.pk
    assert services.rating_lease_next(labeller=labellers[2], dataset_id=dataset.pk) is None


def test_the_queue_fills_the_fullest_open_item_first(make_rate_dataset):
    dataset, items, labellers = make_rate_dataset(n_items=3, n_labellers=2, overlap_k=2)
    _, rating = lease_and_rate(labellers[0], dataset)
    lease = services.rating_lease_next(labeller=labellers[1], dataset_id=dataset.pk)
    assert lease.item_id == rating.item_id


def test_a_labeller_never_gets_an_item_she_rated_or_skipped(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=2)
    lease_and_rate(labeller, dataset)
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    services.rating_lease_skip(labeller=labeller, assignment_id=lease.pk, reason="Language I do not read")
    assert services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk) is None


def test_a_skip_gives_the_slot_back_and_needs_a_reason(make_rate_dataset):
    dataset, (item,), (labeller,) = make_rate_dataset(n_items=1)
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    with pytest.raises(ApplicationError, match="reason"):
        services.rating_lease_skip(labeller=labeller, assignment_id=lease.pk, reason=" ")
    services.rating_lease_skip(labeller=labeller, assignment_id=lease.pk, reason="Broken")
    assert RatingItem.objects.get(pk=item.pk).n_leased == 0


def test_an_expired_lease_returns_its_slot_to_another_labeller(make_rate_dataset):
    dataset, (item,), labellers = make_rate_dataset(n_items=1, n_labellers=2, overlap_k=1)
    services.rating_lease_next(labeller=labellers[0], dataset_id=dataset.pk)
    later = timezone.now() + timedelta(minutes=dataset.lease_minutes + 1)
    lease = services.rating_lease_next(labeller=labellers[1], dataset_id=dataset.pk, now=later)
    assert lease is not None and lease.item_id == item.pk
    assert RatingItem.objects.get(pk=item.pk).n_leased == 1


def test_a_rating_on_an_expired_lease_is_refused_once_others_took_the_slot(make_rate_dataset):
    dataset, (item,), labellers = make_rate_dataset(n_items=1, n_labellers=2, overlap_k=1)
    stale = services.rating_lease_next(labeller=labellers[0], dataset_id=dataset.pk)
    later = timezone.now() + timedelta(minutes=dataset.lease_minutes + 1)
    fresh = services.rating_lease_next(labeller=labellers[1], dataset_id=dataset.pk, now=later)
    services.rating_submit(labeller=labellers[1], assignment_id=fresh.pk, label=True, now=later)
    with pytest.raises(ApplicationError, match="expired"):
        services.rating_submit(labeller=labellers[0], assignment_id=stale.pk, label=True, now=later)
    assert RatingItem.objects.get(pk=item.pk).n_ratings == 1


def test_a_retry_with_the_same_idempotency_key_returns_the_first_rating(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease, first = lease_and_rate(labeller, dataset, idempotency_key="k-1")
    again = services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=False, idempotency_key="k-1")
    assert again.pk == first.pk and again.label is True
    assert Rating.objects.count() == 1


def test_an_idempotency_key_reused_on_another_response_is_refused(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease_and_rate(labeller, dataset, idempotency_key="k-1")
    with pytest.raises(ApplicationError, match="already used"):
        lease_and_rate(labeller, dataset, idempotency_key="k-1")
    assert Rating.objects.count() == 1


def test_a_second_rating_of_a_completed_lease_without_a_key_is_refused(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease, _ = lease_and_rate(labeller, dataset)
    with pytest.raises(ApplicationError, match="already completed"):
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True)


def test_gold_items_go_to_every_labeller_beyond_overlap_and_take_no_slot(make_rate_dataset):
    dataset, _, labellers = make_rate_dataset(n_items=0, n_labellers=3, overlap_k=1, gold_rate=1.0)
    gold = RatingItemFactory(dataset=dataset, gold_label=True)
    for labeller in labellers:
        lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
        assert lease.item_id == gold.pk and lease.is_gold
        assert RatingItem.objects.get(pk=gold.pk).n_leased == 0
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True)
    assert RatingItem.objects.get(pk=gold.pk).n_ratings == 3


def test_gold_items_are_not_handed_out_as_ordinary_items(make_rate_dataset):
    dataset, _, (labeller,) = make_rate_dataset(n_items=0, gold_rate=0.0)
    RatingItemFactory(dataset=dataset, gold_label=False)
    assert services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk) is None


def test_a_planned_repeat_comes_after_the_gap_and_is_not_counted(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=services.REPEAT_GAP + 2, repeat_rate=0.0)
    ratings = []
    for _ in range(services.REPEAT_GAP + 1):
        ratings.append(lease_and_rate(labeller, dataset)[1])
    dataset.repeat_rate = 1.0
    dataset.save()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    assert lease.is_repeat and lease.item_id == ratings[0].item_id
    repeat = services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=False)
    assert repeat.is_repeat
    assert RatingItem.objects.get(pk=ratings[0].item_id).n_ratings == 1
    assert services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk).item_id != ratings[0].item_id


def test_no_repeat_is_due_before_the_gap(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=services.REPEAT_GAP + 1, repeat_rate=1.0)
    for _ in range(services.REPEAT_GAP - 1):
        lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
        assert not lease.is_repeat
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True)


def test_a_labeller_not_assigned_is_refused(make_rate_dataset):
    dataset, items, _ = make_rate_dataset()
    with pytest.raises(NotAssigned):
        services.rating_lease_next(labeller=LabellerFactory(), dataset_id=dataset.pk)


def test_a_compare_dataset_gives_no_rating_leases():
    dataset = DatasetFactory()
    labeller = LabellerFactory()
    dataset.labellers.add(labeller)
    with pytest.raises(ApplicationError, match="comparing"):
        services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)


def test_removing_a_labeller_ends_her_rating_leases(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    dataset_labellers_set(dataset=dataset, labellers=[])
    assert RatingAssignment.objects.get(pk=lease.pk).status == RatingAssignment.Status.EXPIRED
    assert RatingItem.objects.get(pk=lease.item_id).n_leased == 0
    with pytest.raises(ApplicationError, match="removed"):
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True)


def test_a_revision_supersedes_the_original_and_keeps_it(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    _, original = lease_and_rate(labeller, dataset, label=True)
    revised = services.rating_revise(labeller=labeller, rating_id=original.pk, label=False, rationale="On reflection")
    original.refresh_from_db()
    assert original.superseded and revised.revision_of_id == original.pk and revised.label is False
    with pytest.raises(ApplicationError, match="already revised"):
        services.rating_revise(labeller=labeller, rating_id=original.pk, label=True)


@pytest.mark.parametrize("bad", ["maybe", 2, None, ""])
def test_a_label_that_is_not_up_or_down_is_refused(make_rate_dataset, bad):
    dataset, items, (labeller,) = make_rate_dataset()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    with pytest.raises(ApplicationError, match="label"):
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=bad)
    assert not Rating.objects.exists()


def test_an_unknown_flag_is_refused(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    with pytest.raises(ApplicationError, match="Unknown flag"):
        services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True, flags=["rude"])


def test_the_beat_sweep_expires_abandoned_rating_leases(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    later = timezone.now() + timedelta(minutes=dataset.lease_minutes + 1)
    assert services.rating_leases_expire(now=later) == 1
    assert RatingItem.objects.get(pk=lease.item_id).n_leased == 0


def test_the_queue_picks_the_first_item_the_open_items_selector_lists(make_rate_dataset):
    """The SQL pick (services._OPEN_ITEM) and selectors.items_open_to state one rule twice."""
    from annotation.ratings.selectors import items_open_to

    dataset, items, labellers = make_rate_dataset(n_items=6, n_labellers=3, overlap_k=2)
    RatingItemFactory(dataset=dataset, gold_label=True)
    rng = random.Random(3)
    for step in range(8):
        labeller = labellers[step % 3]
        with transaction.atomic():
            expected = items_open_to(labeller=labeller, dataset=dataset).values_list("pk", flat=True).first()
            assert services._open_item_locked(labeller=labeller, dataset=dataset) == expected
        lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk, rng=rng)
        if lease is None:
            continue
        if step % 4 == 3:
            services.rating_lease_skip(labeller=labeller, assignment_id=lease.pk, reason="no")
        else:
            services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=True)
