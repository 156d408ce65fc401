import pytest
from django.utils import timezone

from annotation.models import LabellerExclusion
from rewardmodel.selection import SelectionConfig, select_examples
from tests.factories import JudgementFactory, LabellerFactory, PairFactory, PromptFactory
from tests.rewardmodel.conftest import marker_dataset

pytestmark = pytest.mark.django_db


def vote(pair, *choices):
    for choice in choices:
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice=choice)


def test_an_excluded_labellers_judgements_are_left_out():
    dataset, pairs = marker_dataset(4)
    cheat = LabellerFactory()
    for pair in pairs:  # the cheat always votes against the majority, twice as loud
        wrong = "b" if pair.judgements.get().choice == "a" else "a"
        JudgementFactory(pair=pair, labeller=cheat, choice=wrong)
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice=wrong)
    LabellerExclusion.objects.create(labeller=cheat, dataset=dataset, reason="spam")

    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0))

    assert selection.snapshot["n_judgements"] == 8
    assert selection.snapshot["left_out"]["tie_or_split"] == 4  # 1 vs 1 once the cheat is out


def test_majority_leaves_out_ties_and_split_votes_and_keeps_the_winner():
    dataset = PairFactory().dataset
    clear, split, tied = PairFactory(dataset=dataset), PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    vote(clear, "b", "b", "a")
    vote(split, "a", "b")
    vote(tied, "tie", "tie", "a")

    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0))

    assert [e.pair_id for e in selection.train] == [clear.pk]
    assert selection.train[0].chosen == clear.response_b.text
    assert selection.snapshot["left_out"]["tie_or_split"] == 2


def test_per_judgement_gives_soft_labels_weighted_by_votes():
    dataset = PairFactory().dataset
    pair = PairFactory(dataset=dataset)
    vote(pair, "a", "a", "b", "tie")

    (example,) = select_examples(dataset_id=dataset.pk, config=SelectionConfig(aggregation="per_judgement", eval_fraction=0)).train

    assert example.chosen == pair.response_a.text
    assert example.p_win == pytest.approx(2 / 3) and example.weight == 3 and example.p_tie == 0


def test_ties_count_only_for_the_tie_aware_loss():
    dataset = PairFactory().dataset
    pair = PairFactory(dataset=dataset)
    vote(pair, "tie", "both_bad", "tie")

    assert select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0)).train == []
    (example,) = select_examples(dataset_id=dataset.pk, config=SelectionConfig(include_ties=True, eval_fraction=0)).train
    assert example.p_tie == 1.0


def test_min_agreement_and_strength_margin():
    dataset = PairFactory().dataset
    strong, weak = PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    for _ in range(3):
        JudgementFactory(pair=strong, labeller=LabellerFactory(), choice="a", strength=3)
    vote(weak, "a", "a", "b")

    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(min_agreement=0.9, margin_scale=2.0, eval_fraction=0))

    assert [e.pair_id for e in selection.train] == [strong.pk]
    assert selection.train[0].margin == pytest.approx(2.0)
    assert selection.snapshot["left_out"]["below_min_agreement"] == 1


def test_the_split_is_by_prompt_and_fixed_by_the_seed():
    dataset, pairs = marker_dataset(30)
    for pair in pairs[:10]:  # a second pair on some prompts
        second = PairFactory(dataset=dataset, prompt=pair.prompt)
        vote(second, "a")

    first = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0.3, seed=7))
    again = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0.3, seed=7))

    train_prompts = {e.prompt_id for e in first.train}
    eval_prompts = {e.prompt_id for e in first.eval}
    assert train_prompts and eval_prompts and not train_prompts & eval_prompts
    assert [e.pair_id for e in first.eval] == [e.pair_id for e in again.eval]
    assert first.snapshot["judgement_ids_sha256"] == again.snapshot["judgement_ids_sha256"]
    assert len(first.train) + len(first.eval) == 40


def test_a_resumed_selection_uses_exactly_the_judgements_it_started_with():
    dataset, pairs = marker_dataset(5)
    before = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0))
    vote(PairFactory(dataset=dataset, prompt=PromptFactory(dataset=dataset)), "a")
    JudgementFactory(pair=pairs[0], labeller=LabellerFactory(), choice="a", created_at=timezone.now())

    again = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0), judgement_ids=before.judgement_ids)

    assert again.snapshot["judgement_ids_sha256"] == before.snapshot["judgement_ids_sha256"]
    assert len(again.train) == 5
