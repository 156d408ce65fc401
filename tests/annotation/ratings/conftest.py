import pytest

from tests.annotation.ratings.factories import RateDatasetFactory, RatingItemFactory
from tests.factories import LabellerFactory


@pytest.fixture
def make_rate_dataset():
    """A "rate" dataset with `n_items` rating items and `n_labellers` labellers assigned to it."""

    def make(*, n_items=3, n_labellers=1, **fields):
        dataset = RateDatasetFactory(**fields)
        items = [RatingItemFactory(dataset=dataset) for _ in range(n_items)]
        labellers = [LabellerFactory() for _ in range(n_labellers)]
        dataset.labellers.add(*labellers)
        return dataset, items, labellers

    return make
