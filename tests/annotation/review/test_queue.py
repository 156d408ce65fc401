"""The review queue: which pairs are listed, why, in which order, and when they leave it."""
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import AuditCache, LabellerExclusion
from annotation.review import services
from annotation.review.selectors import review_items, review_queue
from tests.factories import AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def vote(pair, *choices, **fields):
    return [JudgementFactory(pair=pair, labeller=LabellerFactory(), choice=c, **fields) for c in choices]


@pytest.fixture
def dataset():
    return DatasetFactory()


def test_agreeing_pairs_are_not_listed_and_disagreeing_ones_are_with_the_votes(dataset):
    agreed, split = PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    vote(agreed, "a", "a", "a")
    vote(split, "a", "b", "b")

    items = review_items(dataset=dataset)

    assert list(items) == [split.pk]
    assert items[split.pk].reasons == [{"kind": "disagreement", "label": "Labellers disagree",
                                         "text": "Labellers disagree: 1 A, 2 B (agreement 67%)."}]


def test_a_fuller_split_comes_first(dataset):
    mild, even = PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    vote(mild, "a", "a", "a", "b")
    vote(even, "a", "b")
    assert [i.pair_id for i in review_queue(dataset=dataset)] == [even.pk, mild.pk]


def test_a_flag_a_failed_gold_check_and_an_excluded_labeller_each_list_a_pair(dataset):
    flagged, gold, excluded = (PairFactory(dataset=dataset) for _ in range(3))
    JudgementFactory(pair=flagged, choice="a", flags={"a": [], "b": ["harmful"]})
    JudgementFactory(pair=flagged, choice="a", flags={"a": [], "b": []})
    gold.gold = "a"
    gold.save()
    JudgementFactory(pair=gold, choice="a")
    JudgementFactory(pair=gold, choice="tie")  # a tie on a gold pair fails the check
    cheat = LabellerFactory()
    JudgementFactory(pair=excluded, labeller=cheat, choice="b")
    LabellerExclusion.objects.create(labeller=cheat, dataset=dataset, reason="spam")

    kinds = {pid: item.kinds for pid, item in review_items(dataset=dataset).items()}

    assert kinds == {flagged.pk: ["flagged"], gold.pk: ["disagreement", "gold_failed"],
                     excluded.pk: ["excluded_labeller"]}


def test_the_judgements_of_a_labeller_the_audit_flagged_are_listed(dataset):
    pair = PairFactory(dataset=dataset)
    suspect = LabellerFactory(user__username="speedy")
    JudgementFactory(pair=pair, labeller=suspect, choice="a")
    AuditCache.objects.create(dataset=dataset, kind="report", key="k", payload={"labellers": [
        {"username": "speedy", "flags": [{"rule": "too_fast", "reason": "median 2 s per pair"}]}]})

    (item,) = review_items(dataset=dataset).values()

    assert item.kinds == ["flagged_labeller"] and "median 2 s per pair" in item.reasons[0]["text"]


def test_a_decision_takes_a_pair_out_of_the_open_queue_until_it_is_judged_again(dataset):
    pair = PairFactory(dataset=dataset)
    vote(pair, "a", "b", created_at=timezone.now() - timedelta(hours=1))
    services.review_decide(pair_id=pair.pk, reviewer=AdminLabellerFactory().user, action="send_back",
                           extra_judgements=1)
    assert review_queue(dataset=dataset) == []
    assert [i.pair_id for i in review_queue(dataset=dataset, show="reviewed")] == [pair.pk]

    vote(pair, "a")  # still 2 a vs 1 b

    assert [i.pair_id for i in review_queue(dataset=dataset)] == [pair.pk]


def test_the_kind_filter_keeps_only_pairs_listed_for_it(dataset):
    split, flagged = PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    vote(split, "a", "b")
    JudgementFactory(pair=flagged, flags={"a": ["off_topic"]})
    assert [i.pair_id for i in review_queue(dataset=dataset, kind="flagged")] == [flagged.pk]
