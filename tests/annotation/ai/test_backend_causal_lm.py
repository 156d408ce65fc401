"""The local causal-LM judge: answer-letter probabilities, both orders, the recorded detail."""
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from annotation.ai.backends import backend_for
from annotation.ai.prompting import render
from annotation.ai.services import pair_judge
from tests.annotation.ai.conftest import causal_judge, make_pairs

pytestmark = pytest.mark.django_db


def test_p_a_is_the_share_of_the_letter_probabilities_of_the_full_softmax(judge_folders):
    ai = causal_judge(judge_folders["random"], tie_margin=0.0)
    _, (pair,) = make_pairs(1)
    verdict = backend_for(ai).judge(messages=pair.prompt.messages, first="the dog ran", second="the sun rain",
                                    order="ab", principle="Be kind.")
    # independently: the whole next-token distribution after the chat-templated prompt
    tok = AutoTokenizer.from_pretrained(judge_folders["random"])
    model = AutoModelForCausalLM.from_pretrained(judge_folders["random"]).eval()
    text = render("", messages=pair.prompt.messages, first="the dog ran", second="the sun rain", principle="Be kind.")
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True,
                                  return_dict=True)["input_ids"]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1], -1)
    p = {letter: sum(probs[i].item() for i in {tok.convert_tokens_to_ids(t) for t in (letter, "Ġ" + letter)}
                     if i != tok.unk_token_id and i is not None) for letter in "AB"}
    assert verdict.p_a == pytest.approx(p["A"] / (p["A"] + p["B"]), rel=1e-4)
    assert verdict.verdict == ("a" if verdict.p_a > 0.5 else "b")


def test_the_order_shown_second_flips_the_probability(judge_folders):
    ai = causal_judge(judge_folders["random"])
    backend = backend_for(ai)
    args = dict(messages=[{"role": "user", "content": "hi"}], principle="Be kind.")
    ab = backend.judge(first="the dog", second="the cat", order="ab", **args)
    ba = backend.judge(first="the dog", second="the cat", order="ba", **args)
    # the same prompt: the first shown is "the dog", which is A in "ab" and B in "ba"
    assert ba.p_a == pytest.approx(1 - ab.p_a)


def test_a_judge_that_always_picks_the_first_position_ends_in_a_tie_with_both_verdicts_kept(judge_folders):
    ai = causal_judge(judge_folders["first"])
    _, (pair,) = make_pairs(1)
    combined, detail = pair_judge(ai=ai, backend=backend_for(ai), pair=pair, seed=0)
    assert [(o["order"], o["verdict"]) for o in detail["orders"]] == [("ab", "a"), ("ba", "b")]
    assert detail["orders"][0]["p_a"] > 0.99 and detail["orders"][1]["p_a"] < 0.01
    assert (combined.choice, detail["agreed"]) == ("tie", False)
    assert detail["judge_model"] == judge_folders["first"] and detail["backend"] == "causal_lm"
    assert detail["constitution"] == "judge-rules v1" and detail["principle"] in ("Be kind.", "Be brief.", "Be true.")


def test_one_order_when_the_settings_say_so(judge_folders):
    ai = causal_judge(judge_folders["first"], both_orders=False)
    _, (pair,) = make_pairs(1)
    combined, detail = pair_judge(ai=ai, backend=backend_for(ai), pair=pair, seed=0)
    assert [o["order"] for o in detail["orders"]] == ["ab"]
    assert (combined.choice, combined.strength) == ("a", 3)
