"""A PPO run from folders on disk: loads the SFT policy, the reward model(s) and, when resuming,
the last checkpoint; runs `training.ppo.ppo_train`; writes resumable checkpoints and the final
policy atomically. No Django here: the Celery task and the command line both call `ppo_run`.

Launch on one device:
  python -m training.runner --sft DIR --reward DIR --prompts PROMPTS.txt --out DIR [--steps N]
On several GPUs (one process per device, gradients averaged by DDP):
  accelerate launch -m training.runner --sft DIR --reward DIR --prompts PROMPTS.txt --out DIR
"""
import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from common.artifacts import atomic_directory
from common.validation import checked_config
from training.ppo import PPOConfig, PPOModels, PPOState, ppo_train

CHECKPOINT = "checkpoint"
FINAL_POLICY = "policy"
FINAL_VALUE = "value"


def disable_dropout(model: torch.nn.Module) -> None:
    """PPO's ratio compares two forward passes of the same weights: dropout would make it noisy."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def load_tokenizer(path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_reward(path, device):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(path)).to(device).eval()
    if model.config.num_labels != 1:
        raise ValueError(f"The reward model in {path} has {model.config.num_labels} outputs; it must have exactly one.")
    tok = load_tokenizer(path)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.requires_grad_(False)
    return model, tok


def load_ppo_models(*, sft_path, reward_path, held_out_path=None, resume_dir=None, device="cpu") -> PPOModels:
    """The reference is always the SFT model; policy and value start from the SFT model, or from
    `resume_dir` (a checkpoint) when resuming."""
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    tokenizer = load_tokenizer(sft_path)
    policy_src = Path(resume_dir) / FINAL_POLICY if resume_dir else sft_path
    value_src = Path(resume_dir) / FINAL_VALUE if resume_dir else sft_path
    policy = AutoModelForCausalLM.from_pretrained(str(policy_src)).to(device)
    ref_policy = AutoModelForCausalLM.from_pretrained(str(sft_path)).to(device).eval()
    ref_policy.requires_grad_(False)
    value_model = AutoModelForTokenClassification.from_pretrained(str(value_src), num_labels=1).to(device)
    for model in (policy, ref_policy, value_model):
        disable_dropout(model)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
    reward_model, reward_tokenizer = load_reward(reward_path, device)
    held_out_model = held_out_tokenizer = None
    if held_out_path:
        held_out_model, held_out_tokenizer = load_reward(held_out_path, device)
    return PPOModels(policy, ref_policy, value_model, tokenizer, reward_model, reward_tokenizer,
                     held_out_model, held_out_tokenizer)


def build_accelerator(cfg: PPOConfig):
    from accelerate import Accelerator

    mixed = cfg.mixed_precision
    if mixed == "auto":
        mixed = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return Accelerator(mixed_precision=mixed)


def config_from_dict(values: dict) -> PPOConfig:
    return checked_config(PPOConfig, values, what="PPO")


def checkpoint_step(out_dir) -> int:
    """The step of the last checkpoint under `out_dir` (0: none)."""
    state = Path(out_dir) / CHECKPOINT / "state.json"
    return json.loads(state.read_text())["step"] if state.exists() else 0


def make_optimizer(cfg: PPOConfig, models: PPOModels):
    """One AdamW over the policy and the value model (their losses are summed). The fused kernel
    is several times faster than the default on a CPU, where the optimizer step of a small model
    otherwise costs as much as its backward pass."""
    params = list(models.policy.parameters()) + list(models.value_model.parameters())
    return torch.optim.AdamW(params, lr=cfg.learning_rate, eps=1e-5, fused=True)


def ppo_run(cfg: PPOConfig, *, sft_path, reward_path, prompts: list[str], out_dir, held_out_path=None,
            on_step=None) -> dict:
    """Runs (or resumes, when `out_dir/checkpoint` exists) a PPO run; returns a summary with the
    final policy folder under "policy_path" (None when stopped early by `on_step`)."""
    if not prompts:
        raise ValueError("No prompts to sample from.")
    out_dir = Path(out_dir)
    ckpt = out_dir / CHECKPOINT
    resume = (ckpt / "state.json").exists()
    accelerator = build_accelerator(cfg)
    models = load_ppo_models(sft_path=sft_path, reward_path=reward_path, held_out_path=held_out_path,
                             resume_dir=ckpt if resume else None, device=accelerator.device)
    for model in (models.ref_policy, models.reward_model, models.held_out_model):
        if model is not None:
            model.to(accelerator.device)
    optimizer = make_optimizer(cfg, models)
    state = None
    if resume:
        state = PPOState(**json.loads((ckpt / "state.json").read_text()))
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    models.policy, models.value_model, optimizer = accelerator.prepare(models.policy, models.value_model, optimizer)

    def save(target: Path, st: PPOState | None) -> None:
        if not accelerator.is_main_process:
            return
        with atomic_directory(target) as tmp:
            accelerator.unwrap_model(models.policy).save_pretrained(tmp / FINAL_POLICY)
            models.tokenizer.save_pretrained(tmp / FINAL_POLICY)
            accelerator.unwrap_model(models.value_model).save_pretrained(tmp / FINAL_VALUE)
            if st is not None:
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
                (tmp / "state.json").write_text(json.dumps(asdict(st)))

    resumed_from = state.step if state else 0
    state = ppo_train(cfg, models, prompts, accelerator, optimizer, state=state, on_step=on_step,
                      on_checkpoint=lambda st: save(ckpt, st))
    if state.step < cfg.steps:
        return {"steps_done": state.step, "resumed_from_step": resumed_from, "policy_path": None}
    final = out_dir / "final"
    save(final, None)
    return {"steps_done": state.step, "resumed_from_step": resumed_from, "kl_coef": state.kl_coef,
            "policy_path": str(final / FINAL_POLICY), "value_path": str(final / FINAL_VALUE)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", required=True, help="SFT model folder (policy start and reference)")
    parser.add_argument("--reward", required=True, help="reward model folder")
    parser.add_argument("--held-out-reward", help="optional second reward model folder")
    parser.add_argument("--prompts", required=True, help="text file: one prompt per line, \\n escaped as \\\\n")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default="{}", help="PPOConfig fields as JSON")
    args = parser.parse_args()
    prompts = [line.rstrip("\n").replace("\\n", "\n") for line in open(args.prompts, encoding="utf-8") if line.strip()]
    cfg = config_from_dict(json.loads(args.config))

    def report(step, metrics, batch):
        print(json.dumps({"step": step, **metrics}), flush=True)
        return False

    print(json.dumps(ppo_run(cfg, sft_path=args.sft, reward_path=args.reward, prompts=prompts, out_dir=args.out,
                             held_out_path=args.held_out_reward, on_step=report)))


if __name__ == "__main__":
    main()
