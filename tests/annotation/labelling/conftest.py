import pytest

from tests.factories import DatasetFactory, LabellerFactory, PairFactory


@pytest.fixture
def make_dataset():
    """A dataset with `n_pairs` pairs and `n_labellers` labellers assigned to it."""

    def make(*, n_pairs=3, n_labellers=1, **fields):
        dataset = DatasetFactory(**fields)
        pairs = [PairFactory(dataset=dataset) for _ in range(n_pairs)]
        labellers = [LabellerFactory() for _ in range(n_labellers)]
        dataset.labellers.add(*labellers)
        return dataset, pairs, labellers

    return make
