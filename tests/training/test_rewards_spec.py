import json
"""Reward specs: terms parsed and validated once, combined with weights, verifiable and learnt."""
import numpy as np
import pytest
from scipy.special import expit

from tests.training import toy
from training.rewards.checkers import Verdict
from training.rewards.spec import combined_reward, parse_reward_spec, reward_model_scorer

CORRECT_AND_FORMAT = [{"checker": "numeric", "weight": 1.0}, {"checker": "regex", "weight": 0.5, "pattern": r"#### -?\d+"}]


def test_combined_reward_is_the_weighted_sum():
    verdicts = {"a": Verdict(1.0, "x"), "b": Verdict(0.25, "y")}
    assert combined_reward(verdicts, {"a": 2.0, "b": 4.0}) == pytest.approx(3.0)


def test_normalised_combined_reward_is_the_weighted_mean():
    verdicts = {"a": Verdict(1.0, "x"), "b": Verdict(0.25, "y")}
    expected = np.average([1.0, 0.25], weights=[2.0, 4.0])
    assert combined_reward(verdicts, {"a": 2.0, "b": 4.0}, normalise=True) == pytest.approx(expected)


def test_combined_reward_needs_a_verdict_for_each_weight():
    with pytest.raises(ValueError, match="No verdict for the weighted reward\\(s\\) format"):
        combined_reward({"correct": Verdict(1.0, "x")}, {"correct": 1.0, "format": 0.5})


def test_a_spec_scores_correctness_and_format_together():
    spec = parse_reward_spec(CORRECT_AND_FORMAT)
    (right_and_formatted, _), (right_only, verdicts) = spec.score(["2 + 3 ="] * 2, ["#### 5", "5"], ["5", "5"])
    assert (right_and_formatted, right_only) == (1.5, 1.0)
    assert verdicts["regex"].reason.startswith("format mismatch")


@pytest.mark.parametrize("entries, message", [
    ([], "non-empty list"),
    ([{"checker": "numeric"}, "numeric"], "Reward term 1 must be an object"),
    ([{"checker": "bleu"}], "Reward term 0: checker must be one of"),
    ([{"checker": "regex", "pattern": "(("}], "Reward term 0 \\(regex\\): .*not a valid regular expression"),
    ([{"checker": "regex", "pattern": "x", "mode": "match"}], "Reward term 0 \\(regex\\): .*mode"),
    ([{"checker": "json_schema", "schema": {"type": 3}}], "Reward term 0 \\(json_schema\\): The JSON schema is invalid"),
    ([{"checker": "numeric", "tolerance": 0.1}], "Reward term 0 \\(numeric\\): unknown parameter\\(s\\) tolerance"),
    ([{"checker": "numeric", "rel_tol": -1}], "rel_tol must be a non-negative number"),
    ([{"checker": "exact", "weight": "high"}], "weight must be a finite number"),
    ([{"checker": "exact"}, {"checker": "exact"}], "Reward term 1 \\(exact\\): name 'exact'"),
    ([{"checker": "code_tests", "timeout_s": 0}], "Reward term 0 \\(code_tests\\): Sandbox limit timeout_s"),
    ([{"checker": "reward_model"}], "needs a reward model scorer"),
])
def test_a_bad_spec_entry_is_named(entries, message):
    with pytest.raises(ValueError, match=message):
        parse_reward_spec(entries)


def test_a_normalised_spec_refuses_negative_weights():
    with pytest.raises(ValueError, match="Reward term 1 \\(exact\\): a normalised spec needs non-negative weights"):
        parse_reward_spec([{"checker": "numeric"}, {"checker": "exact", "weight": -1}], normalise=True)


def test_code_tests_take_the_task_reference_as_their_tests():
    spec = parse_reward_spec([{"checker": "code_tests", "timeout_s": 2, "memory_mb": 256}])
    [(reward, verdicts)] = spec.score(["Write add."], ["def add(a, b):\n    return a + b\n"], ["assert add(1, 2) == 3"])
    assert (reward, verdicts["code_tests"].reason) == (1.0, "passed")


def test_a_learnt_reward_mixes_with_a_verifiable_one(tmp_path):
    """The marker reward model pays for the word "banana": sigmoid(score) joins the numeric term."""
    from rewardmodel.backbone import load_reward_model
    from rewardmodel.reward import score_conversations

    path = toy.save_marker_reward_model(tmp_path / "rm")
    learnt = reward_model_scorer(str(path), max_length=32)
    spec = parse_reward_spec([{"checker": "numeric", "weight": 1.0}, {"checker": "reward_model", "weight": 0.5}],
                             learnt=learnt)
    prompts, completions = ["the cat sat"] * 2, ["banana banana 5", "the mat 4"]
    results = spec.score(prompts, completions, ["5", "5"])
    model, tokenizer = load_reward_model(str(path))
    raw, _ = score_conversations(model, tokenizer, list(zip(prompts, completions)), max_length=32)
    assert [r for r, _ in results] == pytest.approx([1.0 + 0.5 * expit(raw[0]), 0.5 * expit(raw[1])])
    assert results[0][1]["reward_model"].reward > results[1][1]["reward_model"].reward


def test_a_regex_term_without_a_pattern_reads_each_task_reference_as_its_pattern():
    spec = parse_reward_spec([{"checker": "regex"}])
    scored = spec.score(["p", "p"], ["abc", "abc"], ["a.c", "x+"])
    assert [r for r, _ in scored] == [1.0, 0.0]


def test_a_json_schema_term_without_a_schema_reads_each_task_reference_as_its_schema():
    spec = parse_reward_spec([{"checker": "json_schema"}])
    needs_a, needs_b = json.dumps({"type": "object", "required": ["a"]}), json.dumps({"type": "object", "required": ["b"]})
    scored = spec.score(["p", "p"], ['{"a": 1}', '{"a": 1}'], [needs_a, needs_b])
    assert [r for r, _ in scored] == [1.0, 0.0]
