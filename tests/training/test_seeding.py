"""Same seed, same data, same settings: the same PPO value model and the same SFT model from scratch."""
from tests.training.test_sft import EXAMPLES, TINY
from tests.weights import saved_weights_equal
from training.ppo import PPOConfig
from training.runner import ppo_run
from training.sft import SFTConfig, sft_train


def ppo_value(toy_models, out, seed: int):
    root, prompts = toy_models
    cfg = PPOConfig(steps=1, batch_size=4, mini_batch_size=4, ppo_epochs=1, max_new_tokens=4, max_prompt_tokens=8,
                    reward_max_length=32, seed=seed, save_every=0)
    summary = ppo_run(cfg, sft_path=root / "sft", reward_path=root / "rm", prompts=prompts, out_dir=out)
    return summary["value_path"]


def test_two_ppo_runs_with_one_seed_give_identical_value_models(toy_models, tmp_path):
    assert saved_weights_equal(ppo_value(toy_models, tmp_path / "a", seed=3), ppo_value(toy_models, tmp_path / "b", seed=3))


def test_ppo_with_another_seed_gives_another_value_model(toy_models, tmp_path):
    assert not saved_weights_equal(ppo_value(toy_models, tmp_path / "a", seed=3), ppo_value(toy_models, tmp_path / "b", seed=4))


def sft_from_scratch(tmp_path, out, seed: int):
    return sft_train(SFTConfig(**{**TINY, "steps": 1, "seed": seed}), EXAMPLES, tmp_path / out)["model_path"]


def test_two_sft_runs_from_scratch_with_one_seed_give_identical_models(tmp_path):
    assert saved_weights_equal(sft_from_scratch(tmp_path, "a", seed=5), sft_from_scratch(tmp_path, "b", seed=5))


def test_sft_from_scratch_with_another_seed_gives_another_model(tmp_path):
    assert not saved_weights_equal(sft_from_scratch(tmp_path, "a", seed=5), sft_from_scratch(tmp_path, "b", seed=6))
