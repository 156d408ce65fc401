"""Group Relative Policy Optimisation (Shao et al. 2024, DeepSeekMath) against verifiable rewards,
and its Dr. GRPO variant (Liu et al. 2025, "Understanding R1-Zero-Like Training").

No value model and no reward model: each prompt is answered G times, each answer is scored by the
run's reward spec (training/rewards/spec.py: checkers such as numeric match, regex format), and an
answer's advantage is how much better it did than its own group.

Read it top to bottom: `GRPOConfig`, `group_advantages`, `k3_kl`, `grpo_loss` (the maths), then
`grpo_train`, whose body runs the numbered phases of one step:
  1. rollout     G samples per prompt with the PPO sampler (training/rollout.py)
  2. score       decode, score every completion with the reward spec
  3. advantages  within each group: (r - mean) / (std + 1e-4), or r - mean for Dr. GRPO
  4. reference   (beta > 0 only) log-probabilities of the frozen start model
  5. update      `num_iterations` clipped-ratio gradient steps on the whole batch
  6. log         metrics named as TRL's GRPOTrainer logs them; held-out accuracy every `eval_steps`
  7. save        a resumable checkpoint every `save_every` steps and when stopped; at the end the
                 final policy as a Hugging Face folder
A run whose `out_dir/checkpoint` exists resumes from it: the policy, the optimizer, the history;
each step's prompts and sampling seed depend only on (seed, step), so a resumed run draws what an
uninterrupted one would have drawn.

Losses (A the sequence's advantage, broadcast over its tokens; ratio_t = pi(y_t) / pi_old(y_t);
per-token loss l_t = -min(ratio_t A, clip(ratio_t, 1 - eps, 1 + eps) A) + beta * k3_t):
  "grpo":    mean over sequences of (sum_t l_t / |y|)           GRPO as in the paper and TRL's
                                                                 loss_type="grpo"; A std-scaled
  "dr_grpo": sum over all tokens of l_t / (B * max_new_tokens)  TRL's loss_type="dr_grpo": a
                                                                 constant normaliser, so long
                                                                 answers are not favoured; A not
                                                                 std-scaled (Dr. GRPO drops both)
The old policy pi_old is the sampler's log-probabilities: with num_iterations = 1 the ratio is 1
(up to the difference between the cached and the full forward pass) and the clip never acts.

One process, one device (not sharded under `accelerate launch`); bf16 autocast on a GPU that
supports it. Run inline (no Celery, no database) with
  python -m training.grpo --tasks FILE --base-model PATH --out DIR [--config JSON] [--reward-spec JSON]
"""
import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import set_seed

from common.artifacts import training_checkpoint_save
from common.ml.precision import MIXED_PRECISION_CHOICES, make_accelerator
from common.validation import checked_config
from training.rewards.spec import RewardSpec
from training.rewards.tasks import Task
from training.rollout import masked_mean, response_logits, response_mask_and_lengths, sample_responses

CHECKPOINT = "checkpoint"
FINAL = "final"
LOSS_TYPES = ("grpo", "dr_grpo")
STD_EPS = 1e-4
"""Added to the group's standard deviation before dividing, as TRL does."""


@dataclass
class GRPOConfig:
    steps: int = 100
    """Number of GRPO steps (each one batch of prompts_per_step x num_generations completions)."""
    prompts_per_step: int = 4
    """P: distinct training prompts per step."""
    num_generations: int = 8
    """G: completions sampled per prompt (the group); at least 2, else no group has a spread."""
    num_iterations: int = 1
    """Gradient steps on each batch of completions (TRL's num_iterations, GRPO's mu)."""
    learning_rate: float = 1e-6
    """AdamW learning rate."""
    epsilon: float = 0.2
    """Clip range of the ratio: [1 - epsilon, 1 + epsilon]."""
    beta: float = 0.0
    """Weight of the k3 KL to the frozen start model in the loss; 0 (TRL's default) loads no reference."""
    loss_type: str = "grpo"
    """"grpo" (per-sequence token mean, std-scaled advantages) or "dr_grpo" (token sum over
    B x max_new_tokens, advantages not std-scaled): see the module docstring."""
    temperature: float = 1.0
    """Sampling temperature; the loss's log-probabilities are taken under the same temperature."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1.0: the whole distribution)."""
    max_new_tokens: int = 32
    """Longest completion, in policy tokens (also the Dr. GRPO normaliser)."""
    max_prompt_tokens: int = 64
    """Prompts are truncated from the left to this many tokens."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm; None: no clipping."""
    eval_steps: int = 0
    """Held-out accuracy every this many steps, and after the last one (0: only after the last)."""
    eval_generations: int = 1
    """Completions sampled per held-out task for held-out accuracy (more: less noise)."""
    eval_before: bool = True
    """Also measure held-out accuracy of the start model, before step 1 (logged as step 0)."""
    save_every: int = 0
    """Write a resumable checkpoint every this many steps (0: only when stopped early)."""
    seed: int = 0
    """Seed of prompt order, sampling and initialisation."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""

    def __post_init__(self):
        checks = [
            (self.steps >= 1 and self.prompts_per_step >= 1 and self.num_iterations >= 1,
             "steps, prompts_per_step and num_iterations must be at least 1"),
            (self.num_generations >= 2, f"num_generations must be at least 2, not {self.num_generations}"),
            (self.learning_rate > 0, f"learning_rate must be positive, not {self.learning_rate}"),
            (0 < self.epsilon < 1, f"epsilon must be in (0, 1), not {self.epsilon}"),
            (self.beta >= 0, f"beta must be non-negative, not {self.beta}"),
            (self.loss_type in LOSS_TYPES, f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {self.loss_type!r}"),
            (self.temperature > 0 and 0 < self.top_p <= 1, "temperature must be positive and top_p in (0, 1]"),
            (self.max_new_tokens >= 1 and self.max_prompt_tokens >= 1,
             "max_new_tokens and max_prompt_tokens must be at least 1"),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be positive or None"),
            (self.eval_steps >= 0 and self.save_every >= 0, "eval_steps and save_every must be 0 or more"),
            (self.eval_generations >= 1, "eval_generations must be at least 1"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def scale_rewards(self) -> bool:
        """Divide advantages by the group's std: GRPO does, Dr. GRPO does not."""
        return self.loss_type == "grpo"


def grpo_config_from_dict(values: dict) -> GRPOConfig:
    return checked_config(GRPOConfig, values, what="GRPO", noun="option")


def group_advantages(rewards: torch.Tensor, *, scale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, G) rewards, one row per prompt's group -> (advantages (P, G), zero_std (P,) bool).

    advantage = r - mean(group), divided by (std(group) + 1e-4) when `scale` (std unbiased, as
    torch.std and TRL). A group whose rewards are all equal has zero advantage either way: it
    teaches nothing, and `zero_std` counts it."""
    mean = rewards.mean(dim=1, keepdim=True)  # (P, 1)
    std = rewards.std(dim=1, keepdim=True)  # (P, 1)
    advantages = rewards - mean
    if scale:
        advantages = advantages / (std + STD_EPS)
    zero_std = torch.isclose(std[:, 0], torch.zeros_like(std[:, 0]))
    return advantages, zero_std


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference) (Schulman, "Approximating KL divergence"):
    exp(ref - logp) - (ref - logp) - 1, never negative, unbiased for tokens sampled from the policy."""
    delta = ref_logprobs - logprobs
    return delta.exp() - delta - 1


def grpo_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
              epsilon: float, loss_type: str, max_new_tokens: int, beta: float = 0.0,
              ref_logprobs: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped loss of (B, R) token log-probabilities, `advantages` (B,) per sequence and the
    (B, R) response mask; the normalisation of `loss_type` (module docstring). Returns (loss, stats):
    "clip_ratio" the share of tokens whose objective the clip changed (ratio below 1 - eps with a
    negative advantage, or above 1 + eps with a positive one), and "kl" the mean k3 when beta > 0."""
    maskf = mask.float()
    ratio = (logprobs - old_logprobs).exp()  # (B, R)
    adv = advantages[:, None]  # (B, 1)
    per_token_loss = -torch.min(ratio * adv, ratio.clamp(1 - epsilon, 1 + epsilon) * adv)  # (B, R)
    stats = {}
    if beta > 0:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs the reference's log-probabilities.")
        kl = k3_kl(logprobs, ref_logprobs)  # (B, R)
        per_token_loss = per_token_loss + beta * kl
        stats["kl"] = masked_mean(kl, maskf).detach()
    if loss_type == "grpo":
        loss = ((per_token_loss * maskf).sum(1) / maskf.sum(1).clamp(min=1)).mean()
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * maskf).sum() / (per_token_loss.shape[0] * max_new_tokens)
    else:
        raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {loss_type!r}")
    clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + epsilon) & (adv > 0))
    stats["clip_ratio"] = masked_mean(clipped.float(), maskf).detach()
    return loss, stats


def correctness_term(spec: RewardSpec, tasks: list[Task]) -> str:
    """The name of the spec's term that checks the tasks' answers (its checker is the tasks'
    checker): held-out accuracy is the share of tasks it gives a full reward."""
    checkers = {t.checker for t in tasks}
    names = [term.name for term in spec.terms if term.checker in checkers]
    if len(checkers) != 1 or len(names) != 1:
        raise ValueError(f"Held-out accuracy needs one checker for all tasks and one reward term using it; the tasks "
                         f"use {', '.join(sorted(checkers))} and the spec's terms are "
                         f"{', '.join(f'{t.name} ({t.checker})' for t in spec.terms)}.")
    return names[0]


def _sample(cfg: GRPOConfig, policy, tokenizer, prompts: list[str], generator, device):
    """Completions of `prompts`: (query, query mask (B, P), responses, old log-probs, mask (B, R),
    lengths (B,), decoded texts)."""
    enc = tokenizer(prompts, return_tensors="pt", padding=True, truncation=True, max_length=cfg.max_prompt_tokens,
                    add_special_tokens=False)
    query, query_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)  # (B, P)
    responses, logprobs, _ = sample_responses(
        policy, query, query_mask, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
        eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id, generator=generator,
        sampler="inverse_cdf")  # (B, R), (B, R)
    mask, lengths, _ = response_mask_and_lengths(responses, tokenizer.eos_token_id)  # (B, R), (B,)
    texts = tokenizer.batch_decode(responses * mask + tokenizer.pad_token_id * ~mask, skip_special_tokens=True)
    return query, query_mask, responses, logprobs, mask, lengths, texts


@torch.no_grad()
def held_out_accuracy(cfg: GRPOConfig, policy, tokenizer, tasks: list[Task], spec: RewardSpec, term: str, *,
                      device) -> dict:
    """`eval_generations` completions per held-out task at the training temperature (a fixed
    sampling seed, so that steps are compared on the same draws): `eval_accuracy` the share that
    `term` gives a full reward, `eval_reward` the mean combined reward."""
    generator = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    tasks = [t for t in tasks for _ in range(cfg.eval_generations)]
    prompts = [t.prompt_text for t in tasks]
    texts = _sample(cfg, policy, tokenizer, prompts, generator, device)[-1]
    scored = spec.score(prompts, texts, [t.reference for t in tasks])
    return {"eval_accuracy": sum(v[term].reward == 1.0 for _, v in scored) / len(tasks),
            "eval_reward": sum(r for r, _ in scored) / len(tasks)}


def clipped_updates(cfg: GRPOConfig, accelerator, policy, optimizer, query, query_mask, responses, mask,
                    old_logprobs, advantages, ref_logprobs) -> dict[str, list[float]]:
    """Phase 5: `cfg.num_iterations` gradient steps of `grpo_loss` on the whole batch ((B, P) query,
    (B, R) responses, mask, old and reference log-probs, (B,) advantages); each iteration's loss,
    clip ratio, entropy (mean over response tokens) and, when beta > 0, k3 KL."""
    policy.train()
    maskf = mask.float()
    stats_by_name = {"loss": [], "clip_ratio": [], "entropy": [], "kl": []}
    for _ in range(cfg.num_iterations):
        with accelerator.autocast():
            logits = response_logits(policy, query, query_mask, responses, mask).float() / cfg.temperature
            all_logprobs = logits.log_softmax(-1)  # (B, R, V)
            logprobs = all_logprobs.gather(-1, responses[..., None]).squeeze(-1)  # (B, R)
            loss, stats = grpo_loss(logprobs, old_logprobs, advantages, mask, epsilon=cfg.epsilon,
                                    loss_type=cfg.loss_type, max_new_tokens=cfg.max_new_tokens, beta=cfg.beta,
                                    ref_logprobs=ref_logprobs)
        accelerator.backward(loss)
        if cfg.max_grad_norm is not None:
            accelerator.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            stats_by_name["loss"].append(loss.item())
            stats_by_name["clip_ratio"].append(stats["clip_ratio"].item())
            stats_by_name["entropy"].append(masked_mean(-(all_logprobs.exp() * all_logprobs).sum(-1), maskf).item())
            if "kl" in stats:
                stats_by_name["kl"].append(stats["kl"].item())
    return stats_by_name


def _sample_rows(step_tasks: list[Task], texts: list[str], scored: list, kls: list[float]) -> list[dict]:
    """The batch as rows to keep and read: prompt, completion, combined reward, and each reward
    term's reward and verdict (its reason: the sandbox's, the checker's)."""
    return [{"task_id": task.id, "prompt": task.prompt_text, "completion": text, "reward": reward, "kl": kl,
             "rewards": {name: v.reward for name, v in verdicts.items()},
             "verdicts": {name: v.reason for name, v in verdicts.items()}}
            for task, text, (reward, verdicts), kl in zip(step_tasks, texts, scored, kls)]


def _step_metrics(rewards, zero_std, lengths, scored, names, iteration_stats, P: int, G: int) -> dict:
    """Phase 6: one step's metrics, named as TRL's GRPOTrainer logs them (kl only when beta > 0)."""
    metrics = {
        "loss": _mean(iteration_stats["loss"]),
        "reward": rewards.mean().item(),
        "reward_std": rewards.view(P, G).std(dim=1).mean().item(),
        **{f"rewards/{name}": sum(v[name].reward for _, v in scored) / len(scored) for name in names},
        "frac_reward_zero_std": zero_std.float().mean().item(),
        "completions/mean_length": lengths.float().mean().item(),
        "entropy": _mean(iteration_stats["entropy"]),
        "clip_ratio": _mean(iteration_stats["clip_ratio"]),
    }
    if iteration_stats["kl"]:
        metrics["kl"] = _mean(iteration_stats["kl"])
    return metrics


def grpo_train(cfg: GRPOConfig, policy_path, tasks: list[Task], reward_spec: RewardSpec, out_dir,
               on_step: Callable[[int, dict], bool] | None = None,
               on_samples: Callable[[int, list[dict]], None] | None = None) -> dict:
    """Trains the causal LM in `policy_path` on the "train" tasks, scored by `reward_spec`, and
    evaluates on the "held_out" ones; the numbered phases of the module docstring. `on_step(step,
    metrics)` returns True to stop (step 0: the start model's held-out accuracy, when
    `eval_before`); `on_samples(step, rows)` receives each step's completions (`_sample_rows`).
    Resumes from `out_dir/checkpoint` when it exists. Returns a summary; "model_path" is the final
    folder (None when stopped)."""
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer
    from training.runner import disable_dropout

    train = [t for t in tasks if t.split == "train"]
    held_out = [t for t in tasks if t.split == "held_out"]
    if not train:
        raise ValueError("No training tasks (split \"train\").")
    term = correctness_term(reward_spec, held_out) if held_out else None
    out_dir, ckpt = Path(out_dir), Path(out_dir) / CHECKPOINT
    resume = (ckpt / "state.json").exists()
    accelerator = make_accelerator(cfg.mixed_precision)
    device = accelerator.device
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(policy_path)
    tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
    policy = from_pretrained_strict(AutoModelForCausalLM, ckpt if resume else policy_path).to(device)
    disable_dropout(policy)  # the ratio compares two forward passes of the same weights
    reference = None
    if cfg.beta > 0:  # always the start model, never the checkpoint
        reference = from_pretrained_strict(AutoModelForCausalLM, policy_path).to(device).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate)
    history, step = [], 0
    if resume:
        state = json.loads((ckpt / "state.json").read_text())
        step, history = state["step"], state["history"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    resumed_from = step
    policy, optimizer = accelerator.prepare(policy, optimizer)
    unwrapped = accelerator.unwrap_model(policy)
    order = random.Random(cfg.seed).sample(range(len(train)), len(train))
    P, G = cfg.prompts_per_step, cfg.num_generations
    stopped = False

    def save(target: Path, with_state: bool) -> None:
        training_checkpoint_save(target, accelerator=accelerator, models={"": (policy, tokenizer)}, optimizer=optimizer,
                                 state={"step": step, "history": history} if with_state else None)

    def evaluate() -> dict:
        policy.eval()
        with accelerator.autocast():
            return held_out_accuracy(cfg, unwrapped, tokenizer, held_out, reward_spec, term, device=device)

    if term and cfg.eval_before and not resume:
        metrics = evaluate()
        history.append({"step": 0, **metrics})
        stopped = bool(on_step(0, metrics)) if on_step else False

    while step < cfg.steps and not stopped:
        step_tasks = [train[order[(step * P + i) % len(train)]] for i in range(P)]
        group_tasks = [t for t in step_tasks for _ in range(G)]  # B = P * G, each prompt's group contiguous
        prompts = [t.prompt_text for t in group_tasks]
        generator = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + step)
        with torch.no_grad(), accelerator.autocast():
            # 1. rollout: the sampler's log-probabilities are pi_old of the ratio.
            policy.eval()
            query, query_mask, responses, old_logprobs, mask, lengths, texts = _sample(
                cfg, unwrapped, tokenizer, prompts, generator, device)

            # 2. score every completion with every term of the spec.
            scored = reward_spec.score(prompts, texts, [t.reference for t in group_tasks])
            rewards = torch.tensor([r for r, _ in scored], device=device)  # (B,)

            # 3. advantages within each prompt's group.
            advantages, zero_std = group_advantages(rewards.view(P, G), scale=cfg.scale_rewards)  # (P, G), (P,)
            advantages = advantages.reshape(-1)  # (B,)

            # 4. reference log-probabilities for the KL term.
            ref_logprobs = None
            if reference is not None:
                ref_logits = response_logits(reference, query, query_mask, responses, mask).float() / cfg.temperature
                ref_logprobs = ref_logits.log_softmax(-1).gather(-1, responses[..., None]).squeeze(-1)  # (B, R)
                del ref_logits

        # 5. num_iterations clipped updates on the whole batch.
        iteration_stats = clipped_updates(cfg, accelerator, policy, optimizer, query, query_mask, responses, mask,
                                          old_logprobs, advantages, ref_logprobs)
        step += 1

        # 6. log; held-out accuracy every eval_steps and after the last step.
        metrics = _step_metrics(rewards, zero_std, lengths, scored, reward_spec.weights, iteration_stats, P, G)
        if term and (step == cfg.steps or (cfg.eval_steps and step % cfg.eval_steps == 0)):
            metrics.update(evaluate())
        history.append({"step": step, **metrics})
        if on_samples:
            maskf = mask.float()
            kls = ([0.0] * len(texts) if ref_logprobs is None
                   else ((k3_kl(old_logprobs, ref_logprobs) * maskf).sum(1) / maskf.sum(1).clamp(min=1)).tolist())
            on_samples(step, _sample_rows(group_tasks, texts, scored, kls))
        stopped = bool(on_step(step, metrics)) if on_step else False

        # 7. save a resumable checkpoint.
        if stopped or (cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps):
            save(ckpt, with_state=True)

    summary = {"steps_done": step, "resumed_from_step": resumed_from, "n_train_tasks": len(train),
               "n_held_out_tasks": len(held_out), "history": history}
    evals = [h for h in history if "eval_accuracy" in h]
    if evals:
        summary["eval_accuracy_first"], summary["eval_accuracy_last"] = evals[0]["eval_accuracy"], evals[-1]["eval_accuracy"]
    if stopped:
        return {**summary, "model_path": None}
    save(out_dir / FINAL, with_state=False)
    return {**summary, "model_path": str(out_dir / FINAL)}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


DEFAULT_SPEC = [{"checker": "numeric", "weight": 1.0}]


def main(argv: list[str] | None = None) -> dict:
    """`python -m training.grpo --tasks FILE --base-model PATH --out DIR [--config JSON]
    [--reward-spec JSON]`: one inline run (no Celery, no database); prints each step's metrics
    as a JSON line and returns the summary."""
    from training.rewards.spec import parse_reward_spec
    from training.rewards.tasks import load_tasks

    parser = argparse.ArgumentParser(prog="python -m training.grpo", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", required=True, help="task file (JSONL, training/rewards/tasks.py)")
    parser.add_argument("--base-model", required=True, help="Hugging Face folder of the causal LM to train")
    parser.add_argument("--out", required=True, help="output folder; the policy is saved in OUT/final")
    parser.add_argument("--config", default="{}", help="GRPOConfig fields as JSON")
    parser.add_argument("--reward-spec", default=json.dumps(DEFAULT_SPEC), help="reward spec as JSON")
    args = parser.parse_args(argv)
    if not Path(args.base_model).is_dir():
        parser.error(f"--base-model {args.base_model} is not a folder (a Hugging Face causal LM).")
    try:
        cfg = grpo_config_from_dict(json.loads(args.config))
        spec = parse_reward_spec(json.loads(args.reward_spec))
        tasks = load_tasks(args.tasks)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))

    def show(step: int, metrics: dict) -> bool:
        print(json.dumps({"step": step, **metrics}), flush=True)
        return False

    summary = grpo_train(cfg, args.base_model, tasks, spec, args.out, on_step=show)
    print(json.dumps({"model_path": summary["model_path"], "steps_done": summary["steps_done"]}))
    return summary


if __name__ == "__main__":
    main()
