from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import LabellerExclusion, Rating
from annotation.ratings import selectors, services
from tests.annotation.ratings.factories import RatingItemFactory

pytestmark = pytest.mark.django_db


def rate(item, labeller, label, **fields):
    return Rating.objects.create(item=item, labeller=labeller, label=label,
                                 created_at=fields.pop("created_at", timezone.now()), **fields)


def test_ratings_for_training_gives_one_row_per_counted_rating_in_the_contract_shape(make_rate_dataset):
    dataset, (item, other), (alice, bob) = make_rate_dataset(n_items=2, n_labellers=2)
    item.response.prompt.messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                                     {"role": "user", "content": "Tell me <b>more</b>"}]
    item.response.prompt.save()
    up = rate(item, alice, True)
    down = rate(item, bob, False)
    rows = selectors.ratings_for_training(dataset_id=dataset.pk)
    assert rows == [
        {"prompt_messages": item.response.prompt.messages, "completion": item.response.text, "label": True,
         "rating_id": up.pk, "prompt_id": item.response.prompt_id},
        {"prompt_messages": item.response.prompt.messages, "completion": item.response.text, "label": False,
         "rating_id": down.pk, "prompt_id": item.response.prompt_id},
    ]


def test_ratings_for_training_leaves_out_repeats_and_superseded_ratings(make_rate_dataset):
    dataset, (item, *_), (alice,) = make_rate_dataset()
    original = rate(item, alice, True, superseded=True)
    revised = rate(item, alice, False, revision_of=original)
    rate(item, alice, True, is_repeat=True)
    assert [r["rating_id"] for r in selectors.ratings_for_training(dataset_id=dataset.pk)] == [revised.pk]


def test_ratings_for_training_leaves_out_an_excluded_labeller_within_her_range(make_rate_dataset):
    dataset, (item, other, third), (alice, bob) = make_rate_dataset(n_items=3, n_labellers=2)
    now = timezone.now()
    before = rate(item, alice, True, created_at=now - timedelta(days=2))
    rate(other, alice, True, created_at=now)
    kept = rate(third, bob, False, created_at=now)
    LabellerExclusion.objects.create(labeller=alice, dataset=dataset, start=now - timedelta(days=1), reason="spam")
    ids = [r["rating_id"] for r in selectors.ratings_for_training(dataset_id=dataset.pk)]
    assert ids == [before.pk, kept.pk]


def test_ratings_for_training_reads_only_its_dataset(make_rate_dataset):
    dataset, (item, *_), (alice,) = make_rate_dataset()
    elsewhere = RatingItemFactory()
    rate(elsewhere, alice, True)
    assert selectors.ratings_for_training(dataset_id=dataset.pk) == []


def test_ratings_made_through_the_queue_reach_training(make_rate_dataset):
    dataset, items, (alice,) = make_rate_dataset(n_items=1)
    lease = services.rating_lease_next(labeller=alice, dataset_id=dataset.pk)
    rating = services.rating_submit(labeller=alice, assignment_id=lease.pk, label="up")
    (row,) = selectors.ratings_for_training(dataset_id=dataset.pk)
    assert row["rating_id"] == rating.pk and row["label"] is True
