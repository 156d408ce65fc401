"""Reward-model selection with reviewed decisions: an override replaces the pair's majority."""
import pytest

from annotation.review.services import review_decide
from rewardmodel.selection import SelectionConfig, select_examples
from tests.factories import AdminLabellerFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def vote(pair, *choices):
    for choice in choices:
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice=choice)


@pytest.fixture
def overridden():
    """Pair `wrong`: the labellers say A 2-1, a reviewer overrides to B; pair `split`: 1-1, a
    reviewer overrides to A; pair `plain`: B 2-0, accepted."""
    dataset = PairFactory().dataset
    wrong, split, plain = (PairFactory(dataset=dataset) for _ in range(3))
    vote(wrong, "a", "a", "b")
    vote(split, "a", "b")
    vote(plain, "b", "b")
    reviewer = AdminLabellerFactory().user
    review_decide(pair_id=wrong.pk, reviewer=reviewer, action="override", choice="b", reason="A is wrong.")
    review_decide(pair_id=split.pk, reviewer=reviewer, action="override", choice="a", reason="A is right.")
    review_decide(pair_id=plain.pk, reviewer=reviewer, action="accept")
    return dataset, wrong, split, plain


def chosen(selection):
    return {e.pair_id: e.chosen for e in selection.train}


def test_without_the_option_the_labellers_majority_is_used(overridden):
    dataset, wrong, split, plain = overridden
    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0))
    assert chosen(selection) == {wrong.pk: wrong.response_a.text, plain.pk: plain.response_b.text}
    assert "review_decisions" not in selection.snapshot


def test_an_override_replaces_the_majority_and_labels_a_split_pair(overridden):
    dataset, wrong, split, plain = overridden
    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0, use_review_decisions=True))
    assert chosen(selection) == {wrong.pk: wrong.response_b.text, split.pk: split.response_a.text,
                                 plain.pk: plain.response_b.text}
    assert selection.snapshot["review_decisions"]["n_overrides"] == 2
    assert selection.snapshot["selection"]["use_review_decisions"] is True


def test_a_new_override_changes_the_snapshot_hash(overridden):
    dataset, wrong, split, plain = overridden
    config = SelectionConfig(eval_fraction=0, use_review_decisions=True)
    before = select_examples(dataset_id=dataset.pk, config=config).snapshot["review_decisions"]["overrides_sha256"]
    review_decide(pair_id=plain.pk, reviewer=AdminLabellerFactory().user, action="override", choice="a", reason="r")
    after = select_examples(dataset_id=dataset.pk, config=config)
    assert after.snapshot["review_decisions"]["overrides_sha256"] != before
    assert chosen(after)[plain.pk] == plain.response_a.text


def test_the_latest_decision_counts_an_accept_after_an_override_restores_the_majority(overridden):
    dataset, wrong, split, plain = overridden
    review_decide(pair_id=wrong.pk, reviewer=AdminLabellerFactory().user, action="accept")
    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0, use_review_decisions=True))
    assert chosen(selection)[wrong.pk] == wrong.response_a.text


def test_an_override_to_a_tie_leaves_the_pair_out_unless_ties_are_kept(overridden):
    dataset, wrong, split, plain = overridden
    review_decide(pair_id=wrong.pk, reviewer=AdminLabellerFactory().user, action="override", choice="tie", reason="r")
    config = SelectionConfig(eval_fraction=0, use_review_decisions=True)
    assert wrong.pk not in chosen(select_examples(dataset_id=dataset.pk, config=config))
    with_ties = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0, use_review_decisions=True,
                                                                              include_ties=True))
    (example,) = [e for e in with_ties.train if e.pair_id == wrong.pk]
    assert example.p_tie == 1.0


def test_an_override_is_kept_whatever_min_agreement_says(overridden):
    dataset, wrong, split, plain = overridden
    config = SelectionConfig(eval_fraction=0, use_review_decisions=True, min_agreement=0.9)
    assert set(chosen(select_examples(dataset_id=dataset.pk, config=config))) == {wrong.pk, split.pk, plain.pk}


def test_the_run_form_and_the_run_config_carry_the_option():
    from rewardmodel.forms import RunCreateForm
    from rewardmodel.services import run_config_parse

    dataset = PairFactory().dataset
    form = RunCreateForm(data={"dataset": dataset.pk, "base_model_path": "/models/x", "num_train_epochs": 1,
                               "learning_rate": 5e-5, "batch_size": 16, "max_length": 256, "aggregation": "majority",
                               "min_agreement": 0, "eval_fraction": 0.1, "loss_type": "bradley_terry",
                               "use_review_decisions": "on"})
    assert form.is_valid(), form.errors
    _, selection = run_config_parse(form.config())
    assert selection.use_review_decisions is True
