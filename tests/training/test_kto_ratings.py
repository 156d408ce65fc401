"""KTO learns from thumbs-up/down ratings collected on the rating page: the ratings that count
(annotation.ratings.selectors.ratings_for_training) reach the trainer, and only those."""
import pytest
from django.utils import timezone

from annotation.models import Rating
from common.models import JobStatus
from tests.annotation.ratings.factories import RateDatasetFactory, RatingItemFactory
from tests.factories import LabellerFactory
from training.execute import kto_run_execute
from training.services import kto_run_create

pytestmark = pytest.mark.django_db
TINY = {"batch_size": 4, "max_length": 64, "max_response_tokens": 24, "learning_rate": 1e-3, "save_every": 0}


@pytest.fixture
def artifacts(tmp_path, settings):
    settings.ARBITER_ARTIFACTS_DIR = tmp_path / "artifacts"
    return tmp_path


def rated_dataset(n_items: int):
    dataset = RateDatasetFactory()
    alice, bob = LabellerFactory(), LabellerFactory()
    dataset.labellers.add(alice, bob)
    now = timezone.now()
    for i in range(n_items):
        item = RatingItemFactory(dataset=dataset)
        Rating.objects.create(item=item, labeller=alice, label=i % 2 == 0, created_at=now)
        Rating.objects.create(item=item, labeller=bob, label=i % 3 == 0, created_at=now)
        # a repeat is a consistency check, not a second vote: it must not reach training
        Rating.objects.create(item=item, labeller=alice, label=i % 2 == 0, is_repeat=True, created_at=now)
    return dataset


def test_a_kto_run_on_ratings_trains_on_every_counted_rating_and_no_repeat(artifacts, dpo_base_model):
    dataset = rated_dataset(6)
    run = kto_run_create(dataset=dataset, base_model_path=dpo_base_model,
                         config={**TINY, "steps": 2, "source": "ratings"}, enqueue=False)

    run = kto_run_execute(run=run)

    assert run.status == JobStatus.SUCCEEDED, run.error
    run.refresh_from_db()
    ups = Rating.objects.filter(item__dataset=dataset, is_repeat=False, label=True).count()
    downs = Rating.objects.filter(item__dataset=dataset, is_repeat=False, label=False).count()
    assert run.data_snapshot["source"] == "ratings"
    assert (run.data_snapshot["n_desirable"], run.data_snapshot["n_undesirable"]) == (ups, downs)


def test_a_kto_run_on_a_dataset_without_ratings_is_refused_naming_the_source(artifacts, dpo_base_model):
    from common.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="no thumbs-up/down ratings"):
        kto_run_create(dataset=RateDatasetFactory(), base_model_path=dpo_base_model,
                       config={**TINY, "steps": 2, "source": "ratings"}, enqueue=False)
