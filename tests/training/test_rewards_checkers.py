"""The verifiable checkers, each on its own: exact match, numeric match, regex format, JSON schema."""
from fractions import Fraction

import pytest

from training.rewards.checkers import (
    Verdict,
    exact_match,
    extract_final_number,
    json_schema_valid,
    json_schema_validator,
    numeric_match,
    regex_format,
)


def test_verdict_rejects_a_reward_outside_0_1():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        Verdict(1.5, "too much")


def test_exact_match_ignores_case_spacing_and_trailing_punctuation():
    assert exact_match("  The   Cat sat.\n", "the cat sat").reward == 1.0


def test_exact_match_gives_0_with_both_answers_in_the_reason():
    verdict = exact_match("a dog", "a cat")
    assert verdict.reward == 0.0
    assert "'a dog'" in verdict.reason and "'a cat'" in verdict.reason


@pytest.mark.parametrize("text, written, value, source", [
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72", Fraction(72), "####"),
    ("so the total is 1,234 dollars\n#### 1,234", "1,234", Fraction(1234), "####"),
    ("#### -5 apples, 3 pears", "-5", Fraction(-5), "####"),
    ("The answer is $\\boxed{\\frac{3}{4}}$.", "\\frac{3}{4}", Fraction(3, 4), "boxed"),
    ("\\boxed{-\\dfrac{1}{2}}", "-\\dfrac{1}{2}", Fraction(-1, 2), "boxed"),
    ("\\boxed{{12}} after 7 and 5", "12", Fraction(12), "boxed"),
    ("first \\boxed{1} then \\boxed{{2}} wait \\boxed{ 3/4 }", "3/4", Fraction(3, 4), "boxed"),
    ("It is 3 or 4, no: 2.5", "2.5", Fraction(5, 2), "last number"),
    ("about 1.5e3 metres", "1.5e3", Fraction(1500), "last number"),
    ("a share of 3 / 8 of the cake", "3 / 8", Fraction(3, 8), "last number"),
])
def test_extract_final_number(text, written, value, source):
    assert extract_final_number(text) == (written, value, source)


@pytest.mark.parametrize("text", ["no digits here", "#### none", "\\boxed{\\sqrt{2}}", "\\boxed{3\\text{ cm}}", "it is 1/0"])
def test_extract_final_number_finds_none(text):
    assert extract_final_number(text) is None


def test_numeric_match_reads_the_gsm8k_answer_not_the_last_number():
    verdict = numeric_match("#### 42\nChecked with 7 * 6.", "42")
    assert (verdict.reward, verdict.details["source"]) == (1.0, "####")


def test_numeric_match_compares_fractions_with_decimals():
    assert numeric_match("\\boxed{0.75}", "3/4").reward == 1.0


def test_numeric_match_tolerance_is_math_isclose():
    assert numeric_match("3.1416", "3.14159", rel_tol=1e-4).reward == 1.0
    assert numeric_match("3.1416", "3.14159", rel_tol=1e-7).reward == 0.0


def test_numeric_match_wrong_answer_names_what_it_read():
    verdict = numeric_match("I think 41", "42")
    assert verdict.reward == 0.0 and "41" in verdict.reason and "42" in verdict.reason


def test_numeric_match_without_a_number_says_so():
    assert numeric_match("I do not know", "42").reason == "no number found"


def test_numeric_match_rejects_a_reference_that_is_not_a_number():
    with pytest.raises(ValueError, match="'forty-two' is not a number"):
        numeric_match("42", "forty-two")


def test_regex_fullmatch_needs_the_whole_completion_to_match():
    assert regex_format("Answer: 12", r"Answer: \d+").reward == 1.0
    assert regex_format("Answer: 12 because", r"Answer: \d+").reward == 0.0


def test_regex_search_finds_the_pattern_anywhere():
    assert regex_format("so... Answer: 12 because", r"Answer: \d+", mode="search").reward == 1.0


def test_regex_bad_pattern_is_a_clear_value_error():
    with pytest.raises(ValueError, match="not a valid regular expression"):
        regex_format("x", "(unclosed")


SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


def test_json_schema_accepts_a_valid_fenced_document():
    assert json_schema_valid('Here:\n```json\n{"answer": 3}\n```', SCHEMA).reward == 1.0


def test_json_schema_names_the_violation():
    verdict = json_schema_valid('{"answer": "three"}', SCHEMA)
    assert verdict.reward == 0.0 and verdict.reason.startswith("schema violation at answer:")


def test_json_schema_gives_0_for_text_that_is_not_json():
    assert json_schema_valid("answer: 3", SCHEMA).reason.startswith("not JSON")


def test_json_schema_rejects_an_invalid_schema_at_config_time():
    with pytest.raises(ValueError, match="The JSON schema is invalid"):
        json_schema_validator({"type": "no-such-type"})


@pytest.mark.parametrize("completion", ["1e999", "-1e999", "10 / 1e-999"])
def test_numeric_match_gives_0_for_a_number_too_large_for_a_float(completion):
    assert numeric_match(completion, "42").reward == 0.0
