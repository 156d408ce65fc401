"""A PPO checkpoint whose weights do not fit its model is an error on resume, never a value head
quietly re-initialised at random."""
import pytest
from safetensors.torch import load_file, save_file

from training.ppo import PPOConfig
from training.runner import CHECKPOINT, FINAL_VALUE, ppo_run


def test_resuming_from_a_value_model_with_a_missing_weight_is_an_error(toy_models, tmp_path):
    root, prompts = toy_models
    cfg = PPOConfig(steps=2, batch_size=4, mini_batch_size=4, ppo_epochs=1, max_new_tokens=4, max_prompt_tokens=8,
                    save_every=1)
    ppo_run(cfg, sft_path=root / "sft", reward_path=root / "rm", prompts=prompts, out_dir=tmp_path,
            on_step=lambda step, metrics, batch: True)
    weights_file = tmp_path / CHECKPOINT / FINAL_VALUE / "model.safetensors"
    weights = load_file(str(weights_file))
    head = next(k for k in weights if k.startswith(("classifier", "score")))
    del weights[head]
    save_file(weights, str(weights_file), metadata={"format": "pt"})

    with pytest.raises(ValueError, match=f"missing keys: {head}"):
        ppo_run(cfg, sft_path=root / "sft", reward_path=root / "rm", prompts=prompts, out_dir=tmp_path)
