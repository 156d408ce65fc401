"""The rating queue under concurrent labellers, each thread with its own database connection
(PostgreSQL: row locks with SKIP LOCKED; SQLite: IMMEDIATE transactions)."""
import random
from collections import Counter

import pytest
from django.db.models import Count

from annotation.models import Rating, RatingAssignment, RatingItem
from annotation.ratings import services
from tests.annotation.labelling.test_concurrency import THREADS, run_threads
from tests.annotation.ratings.factories import RateDatasetFactory, RatingItemFactory
from tests.factories import LabellerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def rate_until_empty(labeller, dataset, seed):
    """One labeller's session: rate (sometimes sending the same request twice), sometimes skip."""
    rng = random.Random(seed)
    while (lease := services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk, rng=rng)) is not None:
        if rng.random() < 0.1:
            services.rating_lease_skip(labeller=labeller, assignment_id=lease.pk, reason="not my language")
            continue
        key = f"{labeller.pk}-{lease.pk}"
        for _ in range(2 if rng.random() < 0.2 else 1):
            services.rating_submit(labeller=labeller, assignment_id=lease.pk, label=rng.random() < 0.5,
                                   idempotency_key=key)


def test_concurrent_labellers_never_push_an_item_past_overlap_k():
    dataset = RateDatasetFactory(overlap_k=2)
    for _ in range(12):
        RatingItemFactory(dataset=dataset)
    labellers = [LabellerFactory() for _ in range(THREADS)]
    dataset.labellers.add(*labellers)
    run_threads(rate_until_empty, [(labeller, dataset, seed) for seed, labeller in enumerate(labellers)])
    per_item = Counter(dict(Rating.objects.filter(is_repeat=False).values("item_id").annotate(n=Count("id"))
                            .values_list("item_id", "n")))
    items = list(RatingItem.objects.all())
    assert all(per_item[item.pk] == dataset.overlap_k for item in items)  # every item filled, none past k
    assert all((item.n_ratings, item.n_leased) == (per_item[item.pk], 0) for item in items)
    assert not RatingAssignment.objects.filter(status=RatingAssignment.Status.ACTIVE).exists()
