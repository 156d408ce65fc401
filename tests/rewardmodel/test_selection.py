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


def copy_dataset(pairs, *, respace: bool = False):
    """A second dataset importing the same prompt texts (optionally with different spacing and
    case), each pair judged once the same way as the original."""
    other = PairFactory().dataset
    for pair in pairs:
        messages = [
            {"role": m["role"], "content": ("  " + m["content"].upper().replace(" ", "   ") + "\n") if respace else m["content"]}
            for m in pair.prompt.messages
        ]
        prompt = PromptFactory(dataset=other, messages=messages)
        copy = PairFactory(dataset=other, prompt=prompt)
        vote(copy, pair.judgements.first().choice)
    return other


def prompt_text(example):
    return " ".join(" ".join(m["content"].split()).casefold() for m in example.messages)


@pytest.mark.parametrize("respace", [False, True])
def test_the_same_prompt_text_in_two_datasets_lands_on_one_side(respace):
    dataset, pairs = marker_dataset(20)
    other = copy_dataset(pairs, respace=respace)

    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0.3, extra_dataset_ids=[other.pk]))

    train_texts = {prompt_text(e) for e in selection.train}
    eval_texts = {prompt_text(e) for e in selection.eval}
    assert train_texts and eval_texts and not train_texts & eval_texts
    assert len(selection.train) + len(selection.eval) == 40


def test_gold_accuracy_counts_only_gold_pairs_on_held_out_prompts():
    dataset, pairs = marker_dataset(20)
    for pair in pairs:
        pair.gold = pair.judgements.first().choice
        pair.save(update_fields=["gold"])
    unjudged = PairFactory(dataset=dataset, gold="a")  # a gold pair nobody judged: its prompt is not trained on

    selection = select_examples(dataset_id=dataset.pk, config=SelectionConfig(eval_fraction=0.3))

    train_texts = {prompt_text(e) for e in selection.train}
    eval_pairs = {e.pair_id for e in selection.eval}
    assert {e.pair_id for e in selection.gold} == eval_pairs | {unjudged.pk}
    assert not {prompt_text(e) for e in selection.gold} & train_texts
    assert selection.snapshot["n_gold_pairs"] == len(eval_pairs) + 1
    assert selection.snapshot["n_gold_pairs_left_out_as_trained_on"] == 20 - len(eval_pairs)
    assert "held-out" in selection.snapshot["gold_accuracy_scope"]


def test_a_gold_pair_whose_prompt_text_is_trained_on_in_another_dataset_is_left_out():
    dataset, pairs = marker_dataset(10)
    for pair in pairs:
        pair.gold = pair.judgements.first().choice
        pair.save(update_fields=["gold"])
    other = copy_dataset(pairs)
    # Only the other dataset's copies are trained on (eval_fraction 0): every gold prompt was seen.
    selection = select_examples(dataset_id=other.pk, config=SelectionConfig(eval_fraction=0, extra_dataset_ids=[dataset.pk]))

    assert selection.gold == []
    assert selection.snapshot["n_gold_pairs_left_out_as_trained_on"] == 10
