import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training.grpo import GRPOConfig, group_advantages, grpo_loss, grpo_train, k3_kl, main
from training.rewards.spec import parse_reward_spec
from training.rewards.tasks import load_tasks

DEMO_TASKS = Path(__file__).resolve().parents[2] / "data" / "demo" / "arithmetic-tasks.jsonl"
REWARDS = [[1.0, 0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5, 0.5]]


def test_grpo_advantages_are_centred_and_divided_by_the_group_std_plus_eps():
    r = np.array(REWARDS)
    expected = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-4)
    advantages, _ = group_advantages(torch.tensor(REWARDS), scale=True)
    np.testing.assert_allclose(advantages.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dr_grpo_advantages_are_only_centred():
    r = np.array(REWARDS)
    advantages, _ = group_advantages(torch.tensor(REWARDS), scale=False)
    np.testing.assert_allclose(advantages.numpy(), r - r.mean(1, keepdims=True), atol=1e-6)


@pytest.mark.parametrize("scale", [True, False])
def test_zero_variance_groups_get_zero_advantage_and_are_counted(scale):
    advantages, zero_std = group_advantages(torch.tensor(REWARDS), scale=scale)
    assert zero_std.tolist() == [False, True]
    assert advantages[1].abs().max().item() == 0.0


def test_k3_kl_matches_a_hand_value():
    # policy p = 0.5, reference q = 0.25: q/p - log(q/p) - 1 = 0.5 + ln 2 - 1
    kl = k3_kl(torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)]))
    assert kl.item() == pytest.approx(math.log(2) - 0.5, rel=1e-6)


LOGP = [[-1.0, -2.0, -0.5], [-0.3, -1.5, -2.0]]
OLD = [[-1.5, -1.9, -0.5], [0.0, -1.5, -9.0]]
MASK = [[True, True, True], [True, True, False]]
ADV = [1.0, -2.0]


def _hand_per_token(eps: float) -> np.ndarray:
    ratio = np.exp(np.array(LOGP) - np.array(OLD))
    adv = np.array(ADV)[:, None]
    return -np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)


def _loss(loss_type: str):
    return grpo_loss(torch.tensor(LOGP), torch.tensor(OLD), torch.tensor(ADV), torch.tensor(MASK), epsilon=0.2,
                     loss_type=loss_type, max_new_tokens=4)


def test_grpo_loss_is_the_mean_over_sequences_of_each_token_mean():
    per_token = _hand_per_token(0.2)
    expected = (per_token[0].sum() / 3 + per_token[1, :2].sum() / 2) / 2
    loss, stats = _loss("grpo")
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # clipped: token (0, 0) ratio e^0.5 > 1.2 with A > 0; token (1, 0) ratio e^-0.3 < 0.8 with A < 0
    assert stats["clip_ratio"].item() == pytest.approx(2 / 5)


def test_dr_grpo_loss_is_the_token_sum_over_batch_times_max_new_tokens():
    per_token = _hand_per_token(0.2)
    expected = (per_token[0].sum() + per_token[1, :2].sum()) / (2 * 4)
    loss, _ = _loss("dr_grpo")
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_kl_term_adds_beta_times_the_token_mean_k3():
    ref = torch.tensor([[-1.2, -2.0, -0.4], [-0.3, -1.0, -0.1]])
    without, _ = _loss("grpo")
    with_kl, stats = grpo_loss(torch.tensor(LOGP), torch.tensor(OLD), torch.tensor(ADV), torch.tensor(MASK),
                               epsilon=0.2, loss_type="grpo", max_new_tokens=4, beta=0.1, ref_logprobs=ref)
    d = ref.numpy() - np.array(LOGP)
    k3 = np.exp(d) - d - 1
    expected_kl_term = (k3[0].sum() / 3 + k3[1, :2].sum() / 2) / 2
    assert with_kl.item() - without.item() == pytest.approx(0.1 * expected_kl_term, rel=1e-5)
    assert stats["kl"].item() == pytest.approx(k3[np.array(MASK)].mean(), rel=1e-6)


@pytest.mark.parametrize("options, named", [
    ({"num_generations": 1}, "num_generations"),
    ({"loss_type": "dapo"}, "loss_type"),
    ({"epsilon": 0}, "epsilon"),
    ({"beta": -0.1}, "beta"),
])
def test_config_refuses_bad_options_by_name(options, named):
    with pytest.raises(ValueError, match=named):
        GRPOConfig(**options)


@pytest.fixture(scope="module")
def arithmetic_policy(tmp_path_factory):
    """A tiny GPT-2 on a BPE tokenizer trained on the demo tasks' prompts and answers."""
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer

    tasks = load_tasks(DEMO_TASKS)
    path = tmp_path_factory.mktemp("grpo-base") / "model"
    tok = train_bpe_tokenizer([f"{t.prompt} {t.reference}" for t in tasks], vocab_size=300, save_dir=path)
    tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, n_positions=128).save_pretrained(path)
    return str(path)


def _few_tasks():
    tasks = load_tasks(DEMO_TASKS)
    return [t for t in tasks if t.split == "train"][:4] + [t for t in tasks if t.split == "held_out"][:3]


@pytest.mark.parametrize("loss_type, beta", [("grpo", 0.1), ("dr_grpo", 0.0)])
def test_grpo_train_runs_steps_logs_finite_metrics_and_saves_a_loadable_policy(arithmetic_policy, tmp_path, loss_type,
                                                                              beta):
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict

    cfg = GRPOConfig(steps=2, prompts_per_step=2, num_generations=3, num_iterations=2, learning_rate=1e-3, beta=beta,
                     loss_type=loss_type, max_new_tokens=6, eval_steps=1, mixed_precision="no")
    spec = parse_reward_spec([{"checker": "numeric", "weight": 1.0},
                              {"checker": "regex", "name": "digits", "weight": 0.5, "pattern": r"\s*-?\d+.*",
                               "mode": "fullmatch"}])
    seen = []
    summary = grpo_train(cfg, arithmetic_policy, _few_tasks(), spec, tmp_path,
                         on_step=lambda s, m: seen.append(m) if s > 0 else None)
    assert summary["steps_done"] == 2 and len(seen) == 2
    for metrics in seen:
        for name in ("reward", "reward_std", "rewards/numeric", "rewards/digits", "frac_reward_zero_std",
                     "completions/mean_length", "entropy", "clip_ratio", "eval_accuracy", "eval_reward"):
            assert math.isfinite(metrics[name]), name
        assert ("kl" in metrics) == (beta > 0) and math.isfinite(metrics.get("kl", 0.0))
        assert 0 <= metrics["frac_reward_zero_std"] <= 1
        assert 1 <= metrics["completions/mean_length"] <= 6
    model = from_pretrained_strict(AutoModelForCausalLM, summary["model_path"])
    assert model.config.n_layer == 1


def test_grpo_train_stops_when_on_step_says_so(arithmetic_policy, tmp_path):
    cfg = GRPOConfig(steps=3, prompts_per_step=1, num_generations=2, max_new_tokens=3, mixed_precision="no")
    summary = grpo_train(cfg, arithmetic_policy, _few_tasks(), parse_reward_spec([{"checker": "numeric"}]), tmp_path,
                         on_step=lambda step, metrics: step >= 1)
    assert summary["steps_done"] == 1 and summary["model_path"] is None


def test_entry_point_refuses_a_bad_reward_spec_by_name(arithmetic_policy, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--tasks", str(DEMO_TASKS), "--base-model", arithmetic_policy, "--out", str(tmp_path),
              "--reward-spec", '[{"checker": "nope"}]'])
    assert "checker must be one of" in capsys.readouterr().err


def test_held_out_tasks_need_a_reward_term_that_checks_their_answers(arithmetic_policy, tmp_path):
    format_only = parse_reward_spec([{"checker": "regex", "pattern": ".*"}])
    with pytest.raises(ValueError, match="one reward term using it"):
        grpo_train(GRPOConfig(steps=1), arithmetic_policy, _few_tasks(), format_only, tmp_path)


def test_entry_point_trains_inline_and_prints_each_step(arithmetic_policy, tmp_path, capsys):
    summary = main(["--tasks", str(DEMO_TASKS), "--base-model", arithmetic_policy, "--out", str(tmp_path),
                    "--config", '{"steps": 1}'])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["step"] == 0 and set(lines[0]) == {"step", "eval_accuracy", "eval_reward"}
    assert lines[1]["step"] == 1 and "eval_accuracy" in lines[1]
    assert lines[-1] == {"model_path": str(tmp_path / "final"), "steps_done": 1}
    assert summary["model_path"] == str(tmp_path / "final")


def test_entry_point_refuses_a_missing_base_model_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--tasks", str(DEMO_TASKS), "--base-model", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert "--base-model" in capsys.readouterr().err


def test_grpo_raises_a_rewarded_format_on_the_tiny_model(arithmetic_policy, tmp_path):
    """Measured, seeds 0-3: the share of completions that start with a digit goes from 0.14-0.21
    over the first 10 steps to 0.50-0.70 over the last 10 (of 60)."""
    starts_with_digit = parse_reward_spec([{"checker": "regex", "pattern": r"(?s)\s*\d.*", "mode": "fullmatch"}])
    cfg = GRPOConfig(steps=60, prompts_per_step=4, num_generations=8, learning_rate=3e-3, max_new_tokens=6,
                     mixed_precision="no")
    train = [t for t in load_tasks(DEMO_TASKS) if t.split == "train"]
    history = grpo_train(cfg, arithmetic_policy, train, starts_with_digit, tmp_path)["history"]
    first, last = (sum(m["reward"] for m in window) / 10 for window in (history[:10], history[-10:]))
    assert last > first + 0.2


def test_entry_point_refuses_an_unknown_option_by_name(arithmetic_policy, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--tasks", str(DEMO_TASKS), "--base-model", arithmetic_policy, "--out", str(tmp_path),
              "--config", '{"warp_speed": 9}'])
    assert "Unknown GRPO option(s): warp_speed" in capsys.readouterr().err


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_same_policy_as_an_uninterrupted_one(arithmetic_policy,
                                                                                               tmp_path):
    cfg = GRPOConfig(steps=3, prompts_per_step=2, num_generations=3, learning_rate=1e-3, max_new_tokens=4,
                     mixed_precision="no", eval_before=False)
    spec = parse_reward_spec([{"checker": "numeric"}])
    whole = grpo_train(cfg, arithmetic_policy, _few_tasks(), spec, tmp_path / "whole")
    stopped = grpo_train(cfg, arithmetic_policy, _few_tasks(), spec, tmp_path / "parts",
                         on_step=lambda step, metrics: step == 2)
    assert stopped["model_path"] is None and (tmp_path / "parts" / "checkpoint" / "state.json").exists()
    resumed = grpo_train(cfg, arithmetic_policy, _few_tasks(), spec, tmp_path / "parts")
    assert (resumed["resumed_from_step"], resumed["steps_done"]) == (2, 3)
    assert [h["step"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][-1]["reward"] == whole["history"][-1]["reward"]
    from safetensors.torch import load_file

    a = load_file(Path(whole["model_path"]) / "model.safetensors")
    b = load_file(Path(resumed["model_path"]) / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_each_steps_samples_carry_every_terms_reward_and_verdict(arithmetic_policy, tmp_path):
    cfg = GRPOConfig(steps=1, prompts_per_step=2, num_generations=2, max_new_tokens=4, mixed_precision="no")
    spec = parse_reward_spec([{"checker": "numeric"}, {"checker": "regex", "name": "digits", "pattern": r"\s*\d+"}])
    kept = []
    grpo_train(cfg, arithmetic_policy, _few_tasks(), spec, tmp_path, on_samples=lambda step, rows: kept.extend(rows))
    assert len(kept) == 4
    for row in kept:
        assert set(row["rewards"]) == set(row["verdicts"]) == {"numeric", "digits"}
        assert row["reward"] == row["rewards"]["numeric"] + row["rewards"]["digits"]
        assert row["verdicts"]["numeric"] in ("match", "no number found") or "wrong answer" in row["verdicts"]["numeric"]


def test_the_inverse_cdf_sampler_draws_from_the_distribution_and_never_a_zero_probability_token():
    from training.rollout import sample_responses

    class Fixed(torch.nn.Module):
        """A 'model' whose next-token distribution is always p = (0.5, 0, 0.3, 0.2)."""

        def forward(self, input_ids, attention_mask, position_ids, use_cache, logits_to_keep=None, cache=None):
            from types import SimpleNamespace

            logits = torch.log(torch.tensor([0.5, 0.0, 0.3, 0.2])).expand(input_ids.shape[0], input_ids.shape[1], 4)
            return SimpleNamespace(cache=None, logits=logits)

    n = 20000
    query = torch.zeros(n, 1, dtype=torch.long)
    responses, logprobs, _ = sample_responses(
        Fixed(), query, torch.ones_like(query), max_new_tokens=1, temperature=1.0, top_p=1.0, eos_id=99, pad_id=98,
        generator=torch.Generator().manual_seed(0), sampler="inverse_cdf")
    counts = torch.bincount(responses[:, 0], minlength=4).float() / n
    assert counts[1].item() == 0.0
    np.testing.assert_allclose(counts.numpy(), [0.5, 0.0, 0.3, 0.2], atol=0.015)  # 4.5 standard errors at n=20000
    np.testing.assert_allclose(logprobs[:, 0].exp().numpy(), np.array([0.5, 0.0, 0.3, 0.2])[responses[:, 0].numpy()],
                               rtol=1e-5)
