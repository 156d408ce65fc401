"""KTO on the toy task of the DPO tests (a tiny GPT-2 with the toy word tokenizer; desirable
completions end with the marker word): unpairing, the KL partners, learning, the split-invariant
gradient, and resuming to the same weights as an uninterrupted run."""
import pytest
import torch
from transformers import AutoModelForCausalLM

from common.ml.loading import load_tokenizer
from tests.training import toy
from tests.training.test_dpo_train import toy_examples
from training.kto import KTOConfig, _batch_backward, kto_train
from training.kto_data import encode_unpaired, kl_partners, unpair
from training.preference_data import encode_preference_pairs

TINY = dict(steps=8, batch_size=16, learning_rate=5e-3, warmup_steps=1, beta=0.5, max_length=48,
            max_response_tokens=12, save_every=0, seed=0)


@pytest.fixture(scope="module")
def toy_kto(tmp_path_factory):
    path = toy.save_policy(tmp_path_factory.mktemp("kto") / "policy")
    tok = load_tokenizer(path)
    cfg = KTOConfig(**TINY)
    rows = encode_unpaired(tok, unpair(toy_examples(32), seed=0), cfg)
    return path, tok, rows, encode_preference_pairs(tok, toy_examples(8, seed=1), cfg)


def test_unpairing_gives_both_sides_of_each_pair_shuffled_with_the_seed():
    examples = toy_examples(8)

    rows = unpair(examples, seed=3)

    assert sorted((r.source_id, r.desirable) for r in rows) == sorted((i, d) for i in range(8) for d in (True, False))
    assert [r.completion for r in rows] == [r.completion for r in unpair(examples, seed=3)]
    assert [r.desirable for r in rows] != [r.desirable for r in unpair(examples, seed=4)]
    assert [r.desirable for r in rows[:8]] != [True] * 8  # not TRL's "all the chosen first"


def test_each_kl_partner_has_another_prompt():
    rows = unpair(toy_examples(8), seed=0)

    partners = kl_partners(rows)

    assert all(rows[j].prompt_id != rows[i].prompt_id for i, j in enumerate(partners))
    assert sorted(set(partners)) == list(range(len(rows)))  # every completion is someone's partner


def test_an_encoded_row_is_the_completion_and_its_kl_completion_after_one_prompt(toy_kto):
    _, tok, rows, _ = toy_kto
    row = rows[0]
    prompt_len = row.meta["prompt_len"][0]

    assert row.chosen_ids[:prompt_len] == row.rejected_ids[:prompt_len]
    assert tok.decode(row.chosen_ids[prompt_len:]).endswith(toy.MARKER + " <|endoftext|>") == row.meta["desirable"]


@pytest.mark.parametrize("precompute_ref", [False, True])
def test_kto_raises_desirable_log_probs_over_undesirable_ones(toy_kto, tmp_path, precompute_ref):
    path, _, rows, held_out = toy_kto
    history = []

    summary = kto_train(KTOConfig(**{**TINY, "precompute_ref": precompute_ref, "eval_every": 1}), start_path=path,
                        train_rows=rows, eval_pairs=held_out, out_dir=tmp_path,
                        on_step=lambda step, metrics: history.append(metrics) and False)

    assert history[-1]["rewards/margins"] > history[0]["rewards/margins"]
    assert history[-1]["rewards/chosen"] > 0 > history[-1]["rewards/rejected"]
    assert history[-1]["eval_rewards/margins"] > history[0]["eval_rewards/margins"]
    assert history[-1]["eval_rewards/accuracies"] == 1.0
    assert {"loss", "kl", "logps/chosen", "logps/rejected"} <= set(history[-1])
    assert summary["n_desirable"] == summary["n_undesirable"] == 32 and summary["desirable_weight"] == 1.0
    AutoModelForCausalLM.from_pretrained(summary["model_path"])


def test_splitting_a_batch_under_a_token_budget_leaves_loss_kl_and_gradient_unchanged(toy_kto):
    from accelerate import Accelerator

    path, tok, rows, _ = toy_kto
    reference = AutoModelForCausalLM.from_pretrained(path).eval()
    results = []
    for budget in (8192, 40):  # one micro-batch; one or two completions per micro-batch
        policy = AutoModelForCausalLM.from_pretrained(path)
        with torch.no_grad():  # move the policy away from the reference, so that z0 is not 0
            for p in policy.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        metrics = _batch_backward(KTOConfig(**{**TINY, "max_tokens_per_micro_batch": budget}), (1.0, 1.3),
                                  Accelerator(cpu=True), policy, reference, rows, list(range(16)), None,
                                  pad_id=tok.pad_token_id, shared=True)
        results.append((torch.cat([p.grad.flatten() for p in policy.parameters()]), metrics))

    (whole, m_whole), (split, m_split) = results
    assert m_whole["kl"] > 0
    assert m_whole["kl"] == pytest.approx(m_split["kl"], abs=1e-5)
    assert m_whole["loss"] == pytest.approx(m_split["loss"], abs=1e-6)
    torch.testing.assert_close(whole, split, atol=1e-5, rtol=1e-4)


def test_a_stopped_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(toy_kto, tmp_path):
    path, _, rows, held_out = toy_kto
    cfg = KTOConfig(**{**TINY, "steps": 4})

    whole = kto_train(cfg, start_path=path, train_rows=rows, eval_pairs=held_out, out_dir=tmp_path / "whole")
    stopped = kto_train(cfg, start_path=path, train_rows=rows, eval_pairs=held_out, out_dir=tmp_path / "parts",
                        on_step=lambda step, metrics: step == 2)
    resumed = kto_train(cfg, start_path=path, train_rows=rows, eval_pairs=held_out, out_dir=tmp_path / "parts")

    assert stopped["model_path"] is None and resumed["resumed_from_step"] == 2 and resumed["steps_done"] == 4
    assert resumed["last_metrics"] == whole["last_metrics"]
    a = AutoModelForCausalLM.from_pretrained(whole["model_path"]).state_dict()
    b = AutoModelForCausalLM.from_pretrained(resumed["model_path"]).state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
