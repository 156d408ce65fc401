"""Review decisions: kept beside the judgements, send back re-opens the pair, who may decide."""
import pytest
from django.db import IntegrityError

from annotation.labelling import services as queue
from annotation.models import DatasetReviewer, Judgement, Pair, ReviewDecision
from annotation.review import services
from annotation.review.selectors import can_review, decisions_current
from common.exceptions import ApplicationError
from tests.factories import AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def judge_next(labeller, dataset, choice="a"):
    lease = queue.assignment_next(labeller=labeller, dataset=dataset)
    assert lease is not None
    queue.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice=choice)
    return lease


@pytest.fixture
def disputed(make_dataset):
    """A dataset of one pair with overlap 2, judged a and b by its two labellers through the queue."""
    dataset, (pair,), (one, two, three) = make_dataset(n_pairs=1, n_labellers=3, overlap_k=2)
    judge_next(one, dataset, "a")
    judge_next(two, dataset, "b")
    return dataset, pair, three


def test_an_override_is_a_row_of_its_own_and_the_judgements_stay_as_they_were(disputed):
    dataset, pair, _ = disputed
    admin = AdminLabellerFactory()
    before = list(Judgement.objects.filter(pair=pair).order_by("id").values())

    decision = services.review_decide(pair_id=pair.pk, reviewer=admin.user, action="override", choice="b",
                                      reason="A invents a date.")

    assert list(Judgement.objects.filter(pair=pair).order_by("id").values()) == before
    assert (decision.reviewer, decision.choice, decision.reason) == (admin.user, "b", "A invents a date.")
    assert decision.created_at is not None


def test_a_second_decision_is_a_new_row_and_becomes_the_current_one(disputed):
    dataset, pair, _ = disputed
    admin = AdminLabellerFactory()
    first = services.review_decide(pair_id=pair.pk, reviewer=admin.user, action="override", choice="b", reason="r1")
    second = services.review_decide(pair_id=pair.pk, reviewer=admin.user, action="accept")

    assert ReviewDecision.objects.filter(pair=pair).count() == 2
    assert ReviewDecision.objects.get(pk=first.pk).choice == "b"
    assert decisions_current(dataset=dataset)[pair.pk].pk == second.pk


def test_send_back_makes_a_full_pair_leasable_again(disputed):
    dataset, pair, third = disputed
    assert queue.assignment_next(labeller=third, dataset=dataset) is None  # full: 2 of 2

    services.review_decide(pair_id=pair.pk, reviewer=AdminLabellerFactory().user, action="send_back",
                           extra_judgements=1, reason="Split vote.")

    lease = queue.assignment_next(labeller=third, dataset=dataset)
    assert lease is not None and lease.pair_id == pair.pk
    queue.judgement_submit(labeller=third, assignment_id=lease.pk, choice="a")
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.extra_overlap) == (3, 1)


def test_send_back_asks_for_that_many_more_and_no_more(make_dataset):
    dataset, (pair,), labellers = make_dataset(n_pairs=1, n_labellers=5, overlap_k=1)
    judge_next(labellers[0], dataset)
    services.review_decide(pair_id=pair.pk, reviewer=AdminLabellerFactory().user, action="send_back",
                           extra_judgements=2)

    got = [queue.assignment_next(labeller=lab, dataset=dataset) for lab in labellers[1:]]

    assert [lease is not None for lease in got] == [True, True, False, False]


def test_send_back_opens_slots_even_when_the_pair_has_more_judgements_than_the_overlap():
    """An import may give a pair more judgements than overlap_k: sending it back still opens slots."""
    pair = PairFactory(dataset=DatasetFactory(overlap_k=1))
    for _ in range(3):
        JudgementFactory(pair=pair)
    Pair.objects.filter(pk=pair.pk).update(n_judgements=3)
    labeller = LabellerFactory()
    pair.dataset.labellers.add(labeller)

    services.review_decide(pair_id=pair.pk, reviewer=AdminLabellerFactory().user, action="send_back",
                           extra_judgements=1)

    assert queue.assignment_next(labeller=labeller, dataset=pair.dataset).pair_id == pair.pk


def test_an_override_needs_a_choice_the_dataset_allows_and_a_reason(disputed):
    dataset, pair, _ = disputed
    dataset.choices = ["a", "b"]
    dataset.save()
    reviewer = AdminLabellerFactory().user
    with pytest.raises(ApplicationError, match="reason"):
        services.review_decide(pair_id=pair.pk, reviewer=reviewer, action="override", choice="a", reason="  ")
    with pytest.raises(ApplicationError, match="choice"):
        services.review_decide(pair_id=pair.pk, reviewer=reviewer, action="override", choice="tie", reason="r")
    assert not ReviewDecision.objects.exists()


def test_the_database_refuses_an_override_without_a_reason(disputed):
    _, pair, _ = disputed
    with pytest.raises(IntegrityError):
        ReviewDecision.objects.create(pair=pair, reviewer=AdminLabellerFactory().user, action="override", choice="a")


def test_a_labeller_without_the_role_cannot_decide_and_one_with_it_can(disputed):
    dataset, pair, third = disputed
    with pytest.raises(services.NotReviewer):
        services.review_decide(pair_id=pair.pk, reviewer=third.user, action="accept")
    assert not can_review(user=third.user, dataset=dataset)

    services.reviewer_grant(dataset=dataset, labeller=third, granted_by=AdminLabellerFactory().user)

    assert can_review(user=third.user, dataset=dataset)
    assert services.review_decide(pair_id=pair.pk, reviewer=third.user, action="accept").reviewer == third.user


def test_the_reviewer_role_is_per_dataset(disputed):
    dataset, pair, third = disputed
    other = DatasetFactory()
    services.reviewer_grant(dataset=other, labeller=third, granted_by=AdminLabellerFactory().user)
    with pytest.raises(services.NotReviewer):
        services.review_decide(pair_id=pair.pk, reviewer=third.user, action="accept")


def test_only_admins_give_or_take_the_reviewer_role(disputed):
    dataset, _, third = disputed
    with pytest.raises(services.NotReviewer):
        services.reviewer_grant(dataset=dataset, labeller=third, granted_by=LabellerFactory().user)
    services.reviewer_grant(dataset=dataset, labeller=third, granted_by=AdminLabellerFactory().user)
    with pytest.raises(services.NotReviewer):
        services.reviewer_revoke(dataset=dataset, labeller=third, revoked_by=third.user)
    services.reviewer_revoke(dataset=dataset, labeller=third, revoked_by=AdminLabellerFactory().user)
    assert not DatasetReviewer.objects.exists()
