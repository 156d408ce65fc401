"""Datasets with judgements, built through the shared factories."""
from datetime import timedelta

from django.utils import timezone

from annotation.models import Judgement
from tests.factories import DatasetFactory, JudgementFactory, LabellerFactory, PairFactory


def judged_dataset(*, n_pairs: int = 24, usernames=("ann", "bob", "cat"), disagree: str = "cat", **dataset_kwargs):
    """Every labeller judges every pair; all agree on 'a' except `disagree`, who says 'b' on odd pairs.
    Sides alternate, times are a minute apart."""
    dataset = DatasetFactory(**dataset_kwargs)
    labellers = [LabellerFactory(user__username=name) for name in usernames]
    start = timezone.now() - timedelta(days=1)
    rows = []
    for p in range(n_pairs):
        pair = PairFactory(dataset=dataset)
        for i, labeller in enumerate(labellers):
            choice = "b" if (labeller.user.username == disagree and p % 2) else "a"
            rows.append(Judgement(pair=pair, labeller=labeller, choice=choice, shown_left="ab"[p % 2], time_ms=30000,
                                  created_at=start + timedelta(minutes=p * len(labellers) + i)))
    Judgement.objects.bulk_create(rows)
    return dataset, labellers


def add_judgement(*, dataset, labeller, choice="a", **kwargs):
    pair = PairFactory(dataset=dataset)
    return JudgementFactory(pair=pair, labeller=labeller, choice=choice, **kwargs)
