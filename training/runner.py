"""A PPO run from folders on disk: loads the SFT policy, the reward model(s) and, when resuming,
the last checkpoint; runs `training.ppo.ppo_train`; writes resumable checkpoints and the final
policy atomically. No Django here: the Celery task and the command line both call `ppo_run`.

Launch on one device:
  python -m training.runner --sft DIR --reward DIR --prompts PROMPTS.txt --out DIR [--steps N]
On several GPUs (one process per device, gradients averaged by DDP):
  accelerate launch -m training.runner --sft DIR --reward DIR --prompts PROMPTS.txt --out DIR
The main process prints one JSON line per step (the metrics of all processes); at the end every
process prints its summary with its `process_index`, so that a launch shows they agree on beta
and on the running score moments.
"""
import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from transformers import set_seed

from common.artifacts import training_checkpoint_save
from common.ml.limits import max_positions, positions_problem
from common.ml.loading import from_pretrained_strict, load_tokenizer
from common.ml.precision import make_accelerator
from common.ml.processes import join_cpu_processes
from rewardmodel.backbone import load_reward_model
from common.validation import checked_config
from training.ppo import PPOConfig, PPOModels, PPOState, ppo_train

CHECKPOINT = "checkpoint"
FINAL_POLICY = "policy"
FINAL_VALUE = "value"
DEFAULT_REWARD_MAX_LENGTH = 512
"""reward_max_length for a reward model whose config states no positions."""


def disable_dropout(model: torch.nn.Module) -> None:
    """PPO's ratio compares two forward passes of the same weights: dropout would make it noisy."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def load_ppo_models(*, sft_path, reward_path, held_out_path=None, resume_dir=None, device="cpu") -> PPOModels:
    """The reference is always the SFT model; policy and value start from the SFT model (the value
    model with a new one-output head, created at random: seed first), or from `resume_dir` (a
    checkpoint) when resuming. Trained weights load strictly: a mismatched weight is an error."""
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    tokenizer = load_tokenizer(sft_path)
    policy_src = Path(resume_dir) / FINAL_POLICY if resume_dir else sft_path
    policy = from_pretrained_strict(AutoModelForCausalLM, policy_src).to(device)
    ref_policy = from_pretrained_strict(AutoModelForCausalLM, sft_path).to(device).eval()
    ref_policy.requires_grad_(False)
    if resume_dir:
        value_model = from_pretrained_strict(AutoModelForTokenClassification, Path(resume_dir) / FINAL_VALUE)
    else:
        value_model = AutoModelForTokenClassification.from_pretrained(str(sft_path), num_labels=1)
    value_model.to(device)
    for model in (policy, ref_policy, value_model):
        disable_dropout(model)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
    reward_model, reward_tokenizer = _load_reward(reward_path, device)
    held_out_model = held_out_tokenizer = None
    if held_out_path:
        held_out_model, held_out_tokenizer = _load_reward(held_out_path, device)
    return PPOModels(policy, ref_policy, value_model, tokenizer, reward_model, reward_tokenizer,
                     held_out_model, held_out_tokenizer)


def _load_reward(path, device):
    model, tokenizer = load_reward_model(str(path))
    model.to(device).eval().requires_grad_(False)
    return model, tokenizer


def config_from_dict(values: dict) -> PPOConfig:
    return checked_config(PPOConfig, values, what="PPO", noun="option")


def ppo_limits_problems(cfg: PPOConfig, *, policy: tuple, reward_models: list[tuple]) -> list[str]:
    """What in `cfg` asks for more tokens than a model has positions, in words (empty: all fits):
    prompt + new tokens against the policy, `reward_max_length` against each reward model. `policy`
    and each of `reward_models` are (folder, how to name it). Past its positions a model fails
    mid-run with a bare `IndexError`; the services, and `ppo_run` itself, check first."""
    policy_path, policy_name = policy
    problems = [positions_problem(
        policy_path, tokens=cfg.max_prompt_tokens + cfg.max_new_tokens, model=policy_name,
        setting=f"max_prompt_tokens + max_new_tokens ({cfg.max_prompt_tokens} + {cfg.max_new_tokens})",
    )]
    if cfg.reward_max_length is not None:
        problems += [positions_problem(path, tokens=cfg.reward_max_length, setting="reward_max_length", model=name)
                     for path, name in reward_models]
    return [p for p in problems if p]


def reward_length_resolved(cfg: PPOConfig, reward_paths: list) -> PPOConfig:
    """`cfg` with reward_max_length set: when None, the fewest positions of the reward models."""
    if cfg.reward_max_length is not None:
        return cfg
    limits = [n for n in (max_positions(p) for p in reward_paths) if n]
    return replace(cfg, reward_max_length=min(limits, default=DEFAULT_REWARD_MAX_LENGTH))


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
    reward_paths = [p for p in (reward_path, held_out_path) if p]
    problems = ppo_limits_problems(cfg, policy=(sft_path, f"the policy in {sft_path}"),
                                   reward_models=[(p, f"the reward model in {p}") for p in reward_paths])
    if problems:
        raise ValueError(" ".join(problems))
    cfg = reward_length_resolved(cfg, reward_paths)
    out_dir = Path(out_dir)
    ckpt = out_dir / CHECKPOINT
    resume = (ckpt / "state.json").exists()
    accelerator = make_accelerator(cfg.mixed_precision)
    set_seed(cfg.seed)  # before any model is built: the value head is new
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
        training_checkpoint_save(
            target, accelerator=accelerator, optimizer=optimizer, state=asdict(st) if st is not None else None,
            models={FINAL_POLICY: (models.policy, models.tokenizer), FINAL_VALUE: (models.value_model, None)},
        )

    resumed_from = state.step if state else 0
    state = ppo_train(cfg, models, prompts, accelerator, optimizer, state=state, on_step=on_step,
                      on_checkpoint=lambda st: save(ckpt, st))
    if state.step < cfg.steps:
        return {"steps_done": state.step, "resumed_from_step": resumed_from, "policy_path": None}
    final = out_dir / "final"
    save(final, None)
    summary = {"steps_done": state.step, "resumed_from_step": resumed_from, "kl_coef": state.kl_coef,
               "policy_path": str(final / FINAL_POLICY), "value_path": str(final / FINAL_VALUE)}
    if cfg.score_scaling:
        summary["score_count"], summary["score_mean"] = state.score_count, state.score_mean
    return summary


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
    try:
        cfg = config_from_dict(json.loads(args.config))
        if not prompts:
            raise ValueError(f"{args.prompts} holds no prompts.")
    except (ValueError, TypeError) as exc:  # TypeError: an option of the wrong type
        parser.error(str(exc))
    join_cpu_processes()

    def report(step, metrics, batch):
        print(json.dumps({"step": step, **metrics}), flush=True)
        return False

    summary = ppo_run(cfg, sft_path=args.sft, reward_path=args.reward, prompts=prompts, out_dir=args.out,
                      held_out_path=args.held_out_reward, on_step=report)
    from accelerate import PartialState  # after ppo_run, which set it up (from the launch's environment)

    print(json.dumps({"process_index": PartialState().process_index, **summary}), flush=True)


if __name__ == "__main__":
    main()
