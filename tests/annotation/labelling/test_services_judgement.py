import pytest

from annotation.labelling import services
from annotation.models import Assignment, Judgement, Pair
from common.exceptions import ApplicationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def leased(make_dataset):
    dataset, (pair,), (labeller, other) = make_dataset(n_pairs=1, n_labellers=2)
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    return dataset, pair, labeller, other, lease


def test_submit_records_the_judgement_and_closes_the_lease(leased):
    dataset, pair, labeller, _, lease = leased
    judgement = services.judgement_submit(
        labeller=labeller, assignment_id=lease.pk, choice="b", strength=2, rationale=" clearer ",
        flags={"a": ["harmful", "factually_wrong"]}, time_ms=4200,
    )
    assert (judgement.choice, judgement.strength, judgement.rationale) == ("b", 2, "clearer")
    assert judgement.flags == {"a": ["factually_wrong", "harmful"]}
    assert (judgement.time_ms, judgement.shown_left, judgement.is_repeat) == (4200, lease.shown_left, False)
    lease.refresh_from_db()
    assert (lease.status, lease.judgement_id) == (Assignment.Status.COMPLETED, judgement.pk)
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (1, 0)


def test_time_on_task_is_measured_on_the_server_when_the_client_sends_none(leased):
    _, _, labeller, _, lease = leased
    judgement = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="tie")
    assert judgement.time_ms is not None
    assert judgement.time_ms == int((judgement.created_at - lease.created_at).total_seconds() * 1000)


def test_submit_is_idempotent_on_its_key(leased):
    _, pair, labeller, _, lease = leased
    first = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a", idempotency_key="k-1")
    retry = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a", idempotency_key="k-1")
    assert retry.pk == first.pk
    assert Judgement.objects.filter(labeller=labeller).count() == 1
    pair.refresh_from_db()
    assert pair.n_judgements == 1


def test_a_second_submit_without_the_key_is_refused(leased):
    _, _, labeller, _, lease = leased
    services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a")
    with pytest.raises(ApplicationError, match="already completed"):
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="b")


def test_cannot_submit_for_a_pair_not_assigned_to_you(leased):
    _, pair, _, other, lease = leased
    with pytest.raises(ApplicationError, match="not one of yours"):
        services.judgement_submit(labeller=other, assignment_id=lease.pk, choice="a")
    assert not Judgement.objects.exists()
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (0, 1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"choice": "maybe"}, "not one of this dataset's choices"),
        ({"choice": "a", "strength": 7}, "not on this dataset's scale"),
        ({"choice": "tie", "strength": 1}, "Strength only applies"),
        ({"choice": "a", "flags": {"a": ["ugly"]}}, "Unknown flag"),
        ({"choice": "a", "flags": {"left": ["harmful"]}}, "Flags must look like"),
        ({"choice": "a", "time_ms": -5}, "outside"),
    ],
)
def test_invalid_judgements_are_refused_and_nothing_is_written(leased, fields, message):
    _, pair, labeller, _, lease = leased
    with pytest.raises(ApplicationError, match=message):
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, **fields)
    assert not Judgement.objects.exists()
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.ACTIVE


def test_choices_are_limited_to_the_datasets(make_dataset):
    dataset, _, (labeller,) = make_dataset(n_pairs=1, choices=["a", "b"])
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    with pytest.raises(ApplicationError, match="choices: a, b"):
        services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="tie")


def test_revise_keeps_the_original(leased):
    _, pair, labeller, other, lease = leased
    original = services.judgement_submit(labeller=labeller, assignment_id=lease.pk, choice="a", strength=1)
    revision = services.judgement_revise(labeller=labeller, judgement_id=original.pk, choice="b", strength=3)
    original.refresh_from_db()
    assert (original.choice, original.strength, original.superseded) == ("a", 1, True)
    assert (revision.choice, revision.revision_of_id, revision.superseded) == ("b", original.pk, False)
    assert revision.shown_left == original.shown_left
    pair.refresh_from_db()
    assert pair.n_judgements == 1  # the revision replaces the original in the count
    with pytest.raises(ApplicationError, match="already revised"):
        services.judgement_revise(labeller=labeller, judgement_id=original.pk, choice="tie")
    with pytest.raises(ApplicationError, match="not one of yours"):
        services.judgement_revise(labeller=other, judgement_id=revision.pk, choice="tie")
    assert Pair.objects.get(pk=pair.pk).judgements.count() == 2


def test_an_idempotency_key_cannot_be_reused_for_another_pair(make_dataset):
    dataset, _, (labeller,) = make_dataset(n_pairs=2)
    first = services.assignment_next(labeller=labeller, dataset=dataset)
    services.judgement_submit(labeller=labeller, assignment_id=first.pk, choice="a", idempotency_key="same")
    second = services.assignment_next(labeller=labeller, dataset=dataset)
    with pytest.raises(ApplicationError, match="already used for another pair"):
        services.judgement_submit(labeller=labeller, assignment_id=second.pk, choice="a", idempotency_key="same")
    second.refresh_from_db()
    assert second.status == Assignment.Status.ACTIVE
    assert Judgement.objects.count() == 1
