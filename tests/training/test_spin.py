"""SPIN on the toy task (no database): the policy learns to prefer the reference responses over
its own samples; iterations train against the previous iterate; a stopped run resumes."""
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from common.ml.loading import load_tokenizer
from tests.training import toy
from training.dpo import pair_logps
from training.samples import draw_samples
from training.spin import SPINConfig, iteration_dir, spin_pairs, spin_train
from training.text import render_response

TINY = dict(iterations=2, steps_per_iteration=6, batch_size=8, learning_rate=5e-3, beta=0.5, max_new_tokens=6,
            max_length=40, max_response_tokens=12, temperature=1.0, seed=0, mixed_precision="no")


def toy_demonstrations(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Toy prompts whose reference response is always "<word> banana": far from what a random
    policy says."""
    rng = random.Random(seed)
    words = toy.WORDS[:-1]
    return [(" ".join(rng.choice(words) for _ in range(4)), render_response(f"{rng.choice(words)} {toy.MARKER}"))
            for _ in range(n)]


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    return toy.save_policy(tmp_path_factory.mktemp("spin") / "policy")


def reference_margin(model_path, pairs, pad_id) -> float:
    """Mean of log pi(reference) - log pi(own sample) over the pairs, for the model in `model_path`."""
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    with torch.no_grad():
        sums, _ = pair_logps(model, pairs, pad_id=pad_id, shared=True, device="cpu")  # (2n,)
    n = len(pairs)
    return float((sums[:n] - sums[n:]).mean())


def test_spin_raises_the_reference_responses_log_prob_margin_over_the_policys_own_samples(start, tmp_path):
    cfg = SPINConfig(**TINY)
    demos = toy_demonstrations(16)
    tok = load_tokenizer(start)
    start_model = AutoModelForCausalLM.from_pretrained(start).eval()
    own = draw_samples(start_model, tok, [p for p, _ in demos], max_new_tokens=cfg.max_new_tokens, max_prompt_tokens=30,
                       temperature=1.0, seed=123)
    pairs = spin_pairs(tok, demos, own, cfg)  # the start policy's own responses, held fixed for the comparison
    samples, steps = [], []

    summary = spin_train(cfg, start_path=start, demonstrations=demos, out_dir=tmp_path,
                         on_step=lambda step, metrics: steps.append((step, metrics["spin/iteration"])) and False,
                         on_samples=lambda iteration, step, drawn: samples.append((iteration, step, len(drawn))))

    before, after = reference_margin(start, pairs, tok.pad_token_id), reference_margin(summary["model_path"], pairs, tok.pad_token_id)
    assert after > before + 1.0, (before, after)
    assert samples == [(1, 0, 16), (2, 6, 16)]
    assert steps == [(s, 1) for s in range(1, 7)] + [(s, 2) for s in range(7, 13)]
    assert summary["model_path"] == str(iteration_dir(tmp_path, 2) / "final")


def test_the_second_iteration_samples_the_first_iterate_and_takes_it_as_reference(start, tmp_path):
    cfg = SPINConfig(**TINY)
    demos = toy_demonstrations(8)
    drawn_by_iteration, metrics = {}, {}

    spin_train(cfg, start_path=start, demonstrations=demos, out_dir=tmp_path,
               on_step=lambda step, m: metrics.update({step: m}) and False,
               on_samples=lambda iteration, step, drawn: drawn_by_iteration.update({iteration: drawn}))

    tok = load_tokenizer(start)
    first_iterate = AutoModelForCausalLM.from_pretrained(iteration_dir(tmp_path, 1) / "final").eval()
    again = draw_samples(first_iterate, tok, [p for p, _ in demos], max_new_tokens=cfg.max_new_tokens,
                         max_prompt_tokens=cfg.max_length - cfg.max_new_tokens, temperature=cfg.temperature,
                         seed=cfg.seed + 2)
    assert [d.response_ids for d in drawn_by_iteration[2]] == [d.response_ids for d in again]
    # the first step of each iteration is computed before its update, at its reference: rewards exactly 0;
    # the second has moved away from it
    for first in (1, 7):
        assert metrics[first]["rewards/chosen"] == pytest.approx(0, abs=1e-5)
        assert metrics[first]["rewards/rejected"] == pytest.approx(0, abs=1e-5)
        assert metrics[first + 1]["rewards/margins"] != 0.0


def test_a_stopped_spin_run_resumes_in_its_iteration_and_finishes(start, tmp_path):
    cfg = SPINConfig(**{**TINY, "save_every": 0})
    demos = toy_demonstrations(8)

    stopped = spin_train(cfg, start_path=start, demonstrations=demos, out_dir=tmp_path, on_step=lambda step, m: step == 8)
    resumed_steps = []
    finished = spin_train(cfg, start_path=start, demonstrations=demos, out_dir=tmp_path,
                          on_step=lambda step, m: resumed_steps.append(step) and False)

    assert stopped["model_path"] is None and stopped["steps_done"] == 8 and stopped["iterations_done"] == 1
    assert resumed_steps == [9, 10, 11, 12]
    AutoModelForCausalLM.from_pretrained(finished["model_path"])
