import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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


@pytest.fixture
def api(make_dataset):
    """(an API client with the token of the one labeller of a dataset of 2 pairs, the dataset, her)"""
    dataset, pairs, (labeller,) = make_dataset(n_pairs=2)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=labeller.user).key}")
    return client, dataset, labeller
