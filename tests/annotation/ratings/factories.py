import factory

from annotation.models import Dataset, RatingItem
from tests.factories import DatasetFactory, ResponseFactory


class RateDatasetFactory(DatasetFactory):
    mode = Dataset.Mode.RATE


class RatingItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RatingItem

    dataset = factory.SubFactory(RateDatasetFactory)
    response = factory.SubFactory(ResponseFactory, prompt__dataset=factory.SelfAttribute("...dataset"))
