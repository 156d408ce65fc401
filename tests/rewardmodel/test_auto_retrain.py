import pytest
from django.db import IntegrityError, transaction

from rewardmodel.models import AutoRetrainTrigger, RewardModelRun
from rewardmodel.services import auto_retrain_check, auto_retrain_policy_set
from tests.factories import JudgementFactory, LabellerFactory, PairFactory
from tests.rewardmodel.conftest import marker_dataset

pytestmark = pytest.mark.django_db


def add_judgements(dataset, n):
    for _ in range(n):
        JudgementFactory(pair=PairFactory(dataset=dataset), labeller=LabellerFactory(), choice="a")


def test_it_fires_once_per_new_threshold(tiny_backbone):
    dataset, _ = marker_dataset(7)
    auto_retrain_policy_set(dataset=dataset, every_n_judgements=5)
    assert auto_retrain_check(dataset=dataset, enqueue=False) is None  # 7 judgements: the 5 mark was already passed

    add_judgements(dataset, 3)  # 10
    first = auto_retrain_check(dataset=dataset, enqueue=False)
    second = auto_retrain_check(dataset=dataset, enqueue=False)

    assert first is not None and second is None
    assert RewardModelRun.objects.count() == 1
    assert AutoRetrainTrigger.objects.get(threshold=10).run == first


def test_the_database_refuses_a_second_firing_of_one_threshold():
    dataset, _ = marker_dataset(1)
    AutoRetrainTrigger.objects.create(dataset=dataset, threshold=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        AutoRetrainTrigger.objects.create(dataset=dataset, threshold=10)


def test_a_disabled_policy_does_not_fire():
    dataset, _ = marker_dataset(2)
    auto_retrain_policy_set(dataset=dataset, every_n_judgements=1, enabled=False)
    add_judgements(dataset, 2)
    assert auto_retrain_check(dataset=dataset, enqueue=False) is None
