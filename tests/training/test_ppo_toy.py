"""PPO on the toy task: a hand-set reward model that pays for the word "banana"."""
import pytest

from training.ppo import PPOConfig
from training.runner import ppo_run


def run_toy(toy_models, tmp_path, held_out=False, batches=None, **options):
    root, prompts = toy_models
    base = dict(batch_size=16, mini_batch_size=8, learning_rate=1e-3, max_new_tokens=8, max_prompt_tokens=16,
                temperature=1.0, missing_eos_penalty=None, seed=0, save_every=0)
    history = []

    def on_step(step, metrics, batch):
        history.append(metrics)
        if batches is not None:
            batches.append(batch)
        return False

    summary = ppo_run(PPOConfig(**{**base, **options}), sft_path=root / "sft", reward_path=root / "rm",
                      held_out_path=root / "rm" if held_out else None, prompts=prompts, out_dir=tmp_path,
                      on_step=on_step)
    return summary, history


def mean(xs):
    return sum(xs) / len(xs)


def test_the_marker_reward_model_pays_for_the_marker(toy_models):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root, _ = toy_models
    model = AutoModelForSequenceClassification.from_pretrained(root / "rm")
    tok = AutoTokenizer.from_pretrained(root / "rm")
    enc = tok(["the cat sat", "the cat banana", "banana banana cat"], return_tensors="pt", padding=True)
    with torch.no_grad():
        scores = model(**enc).logits[:, 0].tolist()
    assert scores[0] < scores[1] < scores[2]


def test_ppo_raises_the_score_while_adaptive_beta_holds_kl_near_its_target(toy_models, tmp_path):
    target = 3.0
    summary, history = run_toy(toy_models, tmp_path, steps=30, adap_kl_ctrl=True, init_kl_coef=0.5,
                               target=target, horizon=32)

    first, last10 = history[0], history[-10:]
    assert mean([m["objective/scores"] for m in last10]) > first["objective/scores"] + 0.5
    assert target / 3 < mean([m["objective/kl"] for m in last10]) < 2 * target
    assert summary["policy_path"] and (tmp_path / "final" / "policy" / "config.json").exists()


def test_without_a_kl_penalty_kl_grows_faster(toy_models, tmp_path):
    _, free = run_toy(toy_models, tmp_path / "free", steps=15, adap_kl_ctrl=False, init_kl_coef=0.0)
    _, held = run_toy(toy_models, tmp_path / "held", steps=15, adap_kl_ctrl=False, init_kl_coef=1.0)

    kl_free = mean([m["objective/kl"] for m in free[-5:]])
    kl_held = mean([m["objective/kl"] for m in held[-5:]])
    assert kl_free > 1.5 * kl_held
    assert all(m["objective/kl_coef"] == 0.0 for m in free)


def test_metrics_carry_trl_names_and_the_held_out_score(toy_models, tmp_path):
    batches = []
    _, history = run_toy(toy_models, tmp_path, steps=1, held_out=True, batches=batches)

    # the held-out model here is the proxy itself, so the two scores agree
    assert history[0]["objective/held_out_scores"] == pytest.approx(history[0]["objective/scores"])
    assert all(b["held_out_score"] == pytest.approx(b["score"]) for b in batches[0])
    for name in ("objective/scores", "objective/scores_std", "objective/kl", "objective/kl_coef", "objective/entropy",
                 "policy/entropy", "policy/clipfrac", "policy/approxkl", "loss/policy", "loss/value",
                 "val/num_eos_tokens", "val/response_length", "episodes_per_second"):
        assert name in history[0], name


PHASES = ("time/rollout_s", "time/score_s", "time/ref_value_s", "time/advantages_s", "time/update_s")


def test_each_step_reports_where_its_time_went(toy_models, tmp_path):
    _, history = run_toy(toy_models, tmp_path, steps=2)

    for metrics in history:
        assert all(metrics[name] > 0 for name in PHASES)
        assert sum(metrics[name] for name in PHASES) <= metrics["time/step_s"]


def test_a_seeded_run_is_the_same_whether_the_sampler_checks_for_the_end_every_token_or_every_few(toy_models,
                                                                                                   tmp_path):
    """On a policy whose responses end early, so that the sampler trims; options given as a run's
    config dict, as the runner's --config and a policy run pass them."""
    from tests.training import toy
    from training.runner import config_from_dict

    root, prompts = toy_models
    sft = toy.save_eager_eos_policy(tmp_path / "eager-eos")
    runs, batches = [], []
    for sync_every in (1, 3):
        history = []
        cfg = config_from_dict(dict(steps=3, batch_size=8, mini_batch_size=4, max_new_tokens=8, max_prompt_tokens=16,
                                    temperature=1.0, learning_rate=1e-3, seed=0, save_every=0, sync_every=sync_every))
        ppo_run(cfg, sft_path=sft, reward_path=root / "rm", prompts=prompts, out_dir=tmp_path / str(sync_every),
                on_step=lambda step, metrics, batch: history.append(metrics) or batches.append(batch))
        runs.append([{k: v for k, v in m.items() if not k.startswith("time/") and k != "episodes_per_second"}
                     for m in history])

    # a batch that ended before its last token (a word per token, and the EOS)
    assert any(max(len(row["response"].split()) + 1 for row in batch) < 8 for batch in batches)
    assert runs[1] == runs[0]
