"""Reading a verdict, the two orders combined, the strength from the margin, the principle draw."""
import random

import pytest

from annotation.ai.aggregation import OrderVerdict, combine, unshown, verdict_from_probability
from annotation.ai.prompting import parse_shown_letter, render, template_check
from annotation.ai.services import constitution_create, principle_draw


@pytest.mark.parametrize("text, letter", [
    ("A", "A"), ("B.", "B"), ("(A)", "A"), ("Answer: B", "B"), ("Response A is better", "A"), ("**B**", "B"),
    ("final answer: A", "A"), ("Tie", "tie"), ("AAA", None), ("Both are fine", None), ("a response", None),
    ("", None), ("I cannot decide", None),
])
def test_shown_letter_is_read_or_none(text, letter):
    assert parse_shown_letter(text) == letter


def test_a_letter_shown_second_is_the_other_response():
    assert (unshown("A", "ab"), unshown("A", "ba"), unshown("B", "ba"), unshown("tie", "ba"), unshown(None, "ab")) == \
        ("a", "b", "a", "tie", None)


def test_probability_within_the_tie_margin_is_a_tie():
    assert verdict_from_probability(0.54, tie_margin=0.1) == "tie"  # margin 0.08
    assert verdict_from_probability(0.56, tie_margin=0.1) == "a"  # margin 0.12
    assert verdict_from_probability(0.3, tie_margin=0.1) == "b"


def test_orders_that_agree_give_their_choice_and_a_strength_from_the_mean_margin():
    combined = combine([OrderVerdict("ab", "a", p_a=0.9), OrderVerdict("ba", "a", p_a=0.7)], cuts=(0.4, 0.7))
    # mean p_a 0.8 -> margin |2 * 0.8 - 1| = 0.6: at least 0.4, below 0.7 -> strength 2
    assert (combined.choice, combined.agreed, combined.strength) == ("a", True, 2)
    assert combined.p_a == pytest.approx(0.8)


def test_orders_that_disagree_give_a_tie():
    combined = combine([OrderVerdict("ab", "a", p_a=0.95), OrderVerdict("ba", "b", p_a=0.05)])
    assert (combined.choice, combined.agreed, combined.strength) == ("tie", False, None)


def test_one_unreadable_order_gives_a_tie():
    combined = combine([OrderVerdict("ab", "b", raw="B"), OrderVerdict("ba", None, raw="no idea")])
    assert (combined.choice, combined.agreed) == ("tie", False)


def test_no_readable_order_gives_no_choice():
    assert combine([OrderVerdict("ab", None), OrderVerdict("ba", None, error="HTTP 500")]).choice is None


def test_a_single_order_counts_as_it_is_without_probabilities_no_strength():
    combined = combine([OrderVerdict("ab", "b", raw="B")])
    assert (combined.choice, combined.agreed, combined.strength) == ("b", True, None)


def test_template_must_show_both_responses_and_name_only_known_fields():
    assert template_check("{principle} {response_a} {response_b}") is None
    assert "lacks" in template_check("{principle} {response_a}")
    assert "Unknown" in template_check("{response_a} {response_b} {secret}")


def test_untrusted_text_is_inserted_not_formatted():
    prompt = render("{response_a} | {response_b}", messages=[], first="{principle}", second="{0}", principle="P")
    assert prompt == "{principle} | {0}"


@pytest.mark.django_db
def test_principle_draw_is_reproducible_with_a_seed_and_covers_the_constitution():
    constitution = constitution_create(name="rules", principles=["one", "two", "three"])
    draws = [principle_draw(constitution=constitution, seed=7, pair_id=pk) for pk in range(60)]
    assert draws == [principle_draw(constitution=constitution, seed=7, pair_id=pk) for pk in range(60)]
    assert {principle for _, principle in draws} == {"one", "two", "three"}
    # the same draw as an independent RNG seeded the documented way
    assert [i for i, _ in draws] == [random.Random(f"7:{pk}").randrange(3) for pk in range(60)]
    assert draws != [principle_draw(constitution=constitution, seed=8, pair_id=pk) for pk in range(60)]


@pytest.mark.django_db
def test_a_constitution_named_again_is_a_new_version():
    first = constitution_create(name="rules", principles=["one"])
    second = constitution_create(name="rules", principles=["one", "two"])
    assert (first.version, second.version, str(second)) == (1, 2, "rules v2")
