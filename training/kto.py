"""Kahneman-Tversky Optimisation (Ethayarajh et al. 2024): the policy learns from unpaired
feedback, each completion marked desirable or undesirable (thumbs up/down, or either side of a
comparison), without a reward model or sampling.

Read it top to bottom: `KTOConfig`, `class_weights` (balancing the two classes), `kto_loss` and
`kl_reference_point` (the maths), then `kto_train`, whose body runs the numbered phases:
  1. load      policy from the start folder (or the last checkpoint), tokenizer, optimizer
  2. reference frozen copy of the start model, or its log-probs precomputed in one pass (then freed)
  3. schedule  length-grouped batches of completions, each cut into micro-batches under a token budget
  4. loss      the reference point z0 of the batch, then KTO's loss, normalised by the batch size
  5. step      clip, AdamW, linear warm-up (then constant, or linear decay)
  6. log       metrics named as TRL logs them (`rewards/chosen`, `logps/rejected`, `kl`, ...) and, every
               `eval_every` steps and at the end, held-out implicit-reward accuracy on paired eval data;
               every `sample_every` steps, a few sampled responses (`on_sample`, as DPO)
  7. save      resumable checkpoint; at the end the policy as a plain Hugging Face folder

With r = log pi(y|x) - log ref(y|x) and z0 = max(0, mean over the batch of the same log-ratio on
mismatched (x, y') pairs), detached (TRL's loss_type "kto"):
  desirable y:    lambda_D * (1 - sigmoid(beta * (r - z0)))
  undesirable y:  lambda_U * (1 - sigmoid(beta * (z0 - r)))
averaged over the batch's completions. The implicit reward of a completion is beta * r.

The data (training/kto_data.py) is one `EncodedPair` per completion: "chosen" = prompt + the
completion, "rejected" = the same prompt + its mismatched KL completion, so DPO's log-prob code
(training/dpo.py: `pair_logps`, `reference_logps`, the shared-prompt forward pass) scores both in
one pass.

Launch: through the Celery task or `manage.py run_kto` (one device), or without Django, on
comparisons (both sides of each pair, unpaired and shuffled with the seed):
  one device:  python -m training.kto --pairs PAIRS.jsonl --start DIR --out DIR [--config JSON]
  several:     accelerate launch -m training.kto --pairs PAIRS.jsonl --start DIR --out DIR [--config JSON]
As for DPO, each of N processes takes its share of the step's N x batch_size completions and the
loss is normalised by the whole step's; z0 is the mean over all processes' KL completions (TRL
gathers them too), so N processes take the step one process takes with N x batch_size. bf16
autocast on a GPU that supports it.
"""
import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import set_seed

from common.artifacts import training_checkpoint_save
from common.ml.precision import MIXED_PRECISION_CHOICES, make_accelerator
from common.ml.processes import process_share, stop_together, sum_over_processes
from common.validation import checked_config
from rewardmodel.batching import EncodedPair, split_by_token_budget
from training.dpo import (
    CHECKPOINT, FINAL, DPOConfig, ResponseLogits, _step_batches, evaluate, lr_scale, pair_logps, reference_logps,
)
from training.samples import SampleOptions, draw_if_due

LR_SCHEDULES = ("constant", "linear")


@dataclass
class KTOConfig(SampleOptions):
    """KTO's settings; the `sample_*` ones (samples for reading and for the monitors) are `SampleOptions`'."""
    steps: int = 100
    """Optimizer steps (each one batch of `batch_size` completions)."""
    batch_size: int = 16
    """Completions per process per optimizer step (at least 2: z0 is estimated on the step's
    mismatched pairs); a step of N processes sees N x batch_size."""
    learning_rate: float = 5e-6
    """AdamW peak learning rate (linear warm-up, then constant)."""
    warmup_steps: int = 10
    """Steps of linear learning-rate warm-up."""
    lr_schedule: str = "constant"
    """After the warm-up: "constant", or "linear" decay to 0 at the last step (TRL's default)."""
    beta: float = 0.1
    """Strength of the implicit KL to the reference: small beta lets the policy move further."""
    desirable_weight: float | None = None
    """lambda_D, the loss weight of desirable completions. None: chosen from the data so that
    lambda_D n_D / (lambda_U n_U) lies in [1, 4/3], as the paper advises (see `class_weights`)."""
    undesirable_weight: float | None = None
    """lambda_U, the loss weight of undesirable completions. None: 1.0, or what `class_weights` needs."""
    precompute_ref: bool = False
    """Compute the reference log-probs (of each completion and of its KL completion) in one pass
    before training and free the reference model; False keeps a frozen reference in memory."""
    max_length: int = 256
    """Tokens per sequence (prompt + completion); the prompt is cut from the left to make room."""
    max_response_tokens: int = 128
    """Longest completion kept (cut from the right), EOS included."""
    max_tokens_per_micro_batch: int = 8192
    """Token budget of one forward pass (2 x completions x longest sequence); a batch over it is split."""
    length_group_window: int = 8
    """Batches sorted by length together (a mega-batch), so that a batch pads little."""
    share_prompt_prefix: bool = True
    """Run the prompt once for a completion and its KL completion (one row); only for causal decoders."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm; None: no clipping."""
    eval_every: int = 0
    """Evaluate on the held-out pairs every this many steps (0: only at the end)."""
    seed: int = 0
    """Seed of the unpairing shuffle (and so of the KL partners) and of batch order."""
    save_every: int = 50
    """Write a resumable checkpoint every this many steps (0: only at the end)."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""

    def __post_init__(self):
        checks = [
            (self.steps >= 1, "steps must be at least 1"),
            (self.batch_size >= 2, "batch_size must be at least 2 (KTO estimates its reference point on the batch)"),
            (self.beta > 0, f"beta must be positive, not {self.beta}"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (all(w is None or w > 0 for w in (self.desirable_weight, self.undesirable_weight)),
             "desirable_weight and undesirable_weight must be positive"),
            (0 < self.max_response_tokens < self.max_length, "max_response_tokens must be positive and below max_length"),
            (self.max_tokens_per_micro_batch >= 2, "max_tokens_per_micro_batch must be at least 2"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ] + self.sample_checks()
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def kto_config_from_dict(values: dict) -> KTOConfig:
    return checked_config(KTOConfig, values, what="KTO", noun="option")


def class_weights(*, desirable_weight: float | None, undesirable_weight: float | None, n_desirable: int,
                  n_undesirable: int) -> tuple[float, float]:
    """(lambda_D, lambda_U). A weight given is kept; one left None starts at 1.0 and is moved to the
    nearest value that puts lambda_D n_D / (lambda_U n_U) in [1, 4/3] (the paper's advice; with
    both unset lambda_U stays 1.0). With one class absent there is nothing to balance: 1.0."""
    if not n_desirable or not n_undesirable:
        return desirable_weight or 1.0, undesirable_weight or 1.0
    if desirable_weight is None:
        u = undesirable_weight or 1.0
        low = u * n_undesirable / n_desirable  # lambda_D that gives a ratio of exactly 1
        return min(max(1.0, low), low * 4 / 3), u
    if undesirable_weight is None:
        high = desirable_weight * n_desirable / n_undesirable  # lambda_U that gives a ratio of exactly 1
        return desirable_weight, min(max(1.0, high * 3 / 4), high)
    return desirable_weight, undesirable_weight


def learning_rate(cfg: KTOConfig, step: int) -> float:
    """The learning rate of optimizer step `step` (0-based), on DPO's schedule."""
    return cfg.learning_rate * lr_scale(cfg, step)


def kl_reference_point(policy_kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor, accelerator=None) -> torch.Tensor:
    """z0, a scalar: the mean log-ratio of the mismatched completions (n,), clamped at 0, detached.
    With an `accelerator` of several processes, the mean over all processes' completions (as TRL
    gathers them), the same on each: a per-process z0 would make N processes differ from one."""
    logratios = (policy_kl_logps - ref_kl_logps).detach().float()  # (n,)
    total = torch.stack([logratios.sum(), torch.tensor(float(logratios.numel()), device=logratios.device)])
    if accelerator is not None and accelerator.num_processes > 1:
        total = accelerator.reduce(total, reduction="sum")
    return (total[0] / total[1]).clamp(min=0)


def kto_loss(policy_logps: torch.Tensor, ref_logps: torch.Tensor, desirable: torch.Tensor, kl: torch.Tensor | float, *,
             beta: float, desirable_weight: float, undesirable_weight: float):
    """Weighted loss and implicit reward of each completion, both (n,). The log-probs are (n,),
    summed over the completion's tokens; `desirable` is (n,) bool; `kl` is z0."""
    logratios = policy_logps - ref_logps  # (n,)
    losses = torch.where(desirable,
                         desirable_weight * (1 - torch.sigmoid(beta * (logratios - kl))),
                         undesirable_weight * (1 - torch.sigmoid(beta * (kl - logratios))))
    return losses, beta * logratios.detach()


def _micro_batch_logps(policy, reference, rows: list[EncodedPair], idx: list[int], ref_table, *, pad_id, shared, device):
    """Summed log-probs of the completions idx then of their KL completions: policy (2m,) with
    gradients, reference (2m,) from `ref_table[idx]` when precomputed, else a live forward pass."""
    micro = [rows[i] for i in idx]
    sums, _ = pair_logps(policy, micro, pad_id=pad_id, shared=shared, device=device)  # (2m,)
    if ref_table is not None:
        return sums, ref_table[idx].T.reshape(-1).to(device)  # (2m,) completions then KL completions
    with torch.no_grad():
        ref_sums, _ = pair_logps(reference, micro, pad_id=pad_id, shared=shared, device=device)
    return sums, ref_sums


def _batch_backward(cfg: KTOConfig, weights: tuple[float, float], accelerator, policy, reference, rows, batch: list[int],
                    ref_table, *, pad_id, shared) -> dict:
    """Backward of the step's mean loss: this process's share of `batch` (the step's completions
    over all processes), micro-batch by micro-batch under the token budget, each one's loss divided
    by the whole step's size (times the processes, as DDP averages their gradients). z0 is the
    whole step's (when this process's share is split, from a first pass without gradients), so
    neither the loss nor the gradient depends on the split or on the number of processes.
    Returns the whole step's metrics, named as TRL logs them."""
    device = accelerator.device
    micros = split_by_token_budget(process_share(accelerator, batch), rows, cfg.max_tokens_per_micro_batch)
    kl = None
    if len(micros) > 1:
        with torch.no_grad(), accelerator.autocast():
            parts = [_micro_batch_logps(policy, reference, rows, micro, ref_table, pad_id=pad_id, shared=shared,
                                        device=device) for micro in micros]
        kl = kl_reference_point(torch.cat([pi[len(m):] for (pi, _), m in zip(parts, micros)]),
                                torch.cat([ref[len(m):] for (_, ref), m in zip(parts, micros)]), accelerator)
    sums = {"loss": 0.0, "chosen": 0.0, "rejected": 0.0, "logps_chosen": 0.0, "logps_rejected": 0.0, "n_chosen": 0,
            "n_rejected": 0}
    for k, micro in enumerate(micros):
        m = len(micro)
        desirable = torch.tensor([rows[i].meta["desirable"] for i in micro], device=device)  # (m,)
        with accelerator.no_sync(policy) if k < len(micros) - 1 else contextlib.nullcontext():
            with accelerator.autocast():
                pi, ref = _micro_batch_logps(policy, reference, rows, micro, ref_table, pad_id=pad_id, shared=shared,
                                             device=device)  # (2m,) each
                if kl is None:
                    kl = kl_reference_point(pi[m:], ref[m:], accelerator)
                losses, rewards = kto_loss(pi[:m], ref[:m], desirable, kl, beta=cfg.beta, desirable_weight=weights[0],
                                           undesirable_weight=weights[1])  # (m,) each
            accelerator.backward(losses.sum() * accelerator.num_processes / len(batch))
        logps = pi[:m].detach()
        sums["loss"] += float(losses.detach().sum())
        for side, mask in (("chosen", desirable), ("rejected", ~desirable)):
            sums[side] += float(rewards[mask].sum())
            sums[f"logps_{side}"] += float(logps[mask].sum())
            sums[f"n_{side}"] += int(mask.sum())
    sums = sum_over_processes(accelerator, sums)
    metrics = {"loss": sums["loss"] / len(batch), "kl": float(kl)}
    for side in ("chosen", "rejected"):
        if sums[f"n_{side}"]:
            metrics[f"rewards/{side}"] = sums[side] / sums[f"n_{side}"]
            metrics[f"logps/{side}"] = sums[f"logps_{side}"] / sums[f"n_{side}"]
    if sums["n_chosen"] and sums["n_rejected"]:
        metrics["rewards/margins"] = metrics["rewards/chosen"] - metrics["rewards/rejected"]
    return metrics


def kto_train(cfg: KTOConfig, *, start_path, train_rows: list[EncodedPair], eval_pairs: list[EncodedPair], out_dir,
              on_step: Callable[[int, dict], bool] | None = None, on_sample: Callable[..., None] | None = None) -> dict:
    """Trains the policy in `start_path` (also the reference) on encoded unpaired completions
    (training/kto_data.py::encode_unpaired); `eval_pairs` are held-out comparisons
    (training/preference_data.py), possibly none. The numbered phases of the module docstring.
    `on_step(step, metrics)` returns True to stop (cancel). `on_sample(step, policy, reference,
    tokenizer)` is called as in DPO (training/samples.py::draw_if_due). Resumes from `out_dir/checkpoint`
    when it exists. Returns a summary with the class weights used; "model_path" is the final HF folder, or
    None when stopped early."""
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer
    from rewardmodel.backbone import is_decoder
    from training.runner import disable_dropout

    if not train_rows:
        raise ValueError("No training completions.")
    n_desirable = sum(1 for r in train_rows if r.meta["desirable"])
    weights = class_weights(desirable_weight=cfg.desirable_weight, undesirable_weight=cfg.undesirable_weight,
                            n_desirable=n_desirable, n_undesirable=len(train_rows) - n_desirable)
    out_dir, ckpt = Path(out_dir), Path(out_dir) / CHECKPOINT
    resume = (ckpt / "state.json").exists()
    accelerator = make_accelerator(cfg.mixed_precision)
    device = accelerator.device
    set_seed(cfg.seed)

    # 1. load: the policy from the checkpoint when resuming, else from the start folder
    tokenizer = load_tokenizer(start_path)
    policy = from_pretrained_strict(AutoModelForCausalLM, ckpt if resume else start_path).to(device)
    policy.config.use_cache = False
    disable_dropout(policy)  # the policy's and the reference's log-probs must be comparable
    shared = cfg.share_prompt_prefix and is_decoder(policy)
    pad_id = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, fused=True)
    step, history = 0, []
    if resume:
        state = json.loads((ckpt / "state.json").read_text())
        step, history = state["step"], state["history"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    resumed_from = step

    # 2. reference: always the start model; its log-probs (completion, KL completion) precomputed, or kept frozen
    reference = from_pretrained_strict(AutoModelForCausalLM, start_path).to(device).eval().requires_grad_(False)
    train_ref = eval_ref = None
    if cfg.precompute_ref:
        with accelerator.autocast():
            train_ref, eval_ref = (
                reference_logps(reference, split, pad_id=pad_id, shared=shared, accelerator=accelerator,
                                max_tokens=cfg.max_tokens_per_micro_batch, device=device)  # (N, 2)
                for split in (train_rows, eval_pairs))
        reference = None
    # The policy's forward as DDP runs it on several processes; `policy` stays the plain model.
    scorer, optimizer = accelerator.prepare(ResponseLogits(policy), optimizer)
    policy.train()
    # Held-out accuracy: the share of eval pairs whose chosen side gets the higher implicit reward.
    eval_cfg = DPOConfig(beta=cfg.beta, max_length=cfg.max_length, max_response_tokens=cfg.max_response_tokens,
                         max_tokens_per_micro_batch=cfg.max_tokens_per_micro_batch)

    def save(target: Path, with_state: bool) -> None:
        training_checkpoint_save(target, accelerator=accelerator, models={"": (policy, tokenizer)}, optimizer=optimizer,
                                 state={"step": step, "history": history, "config": asdict(cfg)} if with_state else None)

    def run_eval() -> dict:
        if not eval_pairs:
            return {}
        with accelerator.autocast():
            out = evaluate(eval_cfg, policy, reference, eval_pairs, eval_ref, pad_id=pad_id, shared=shared, device=device,
                           accelerator=accelerator)
        return {k: v for k, v in out.items() if k != "eval_loss"}  # eval_loss is DPO's loss, not KTO's

    # 3. schedule: length-grouped batches of completions, the same for a resumed run
    schedule = _step_batches(cfg, train_rows, accelerator.num_processes)
    stopped = False
    if step == 0:
        draw_if_due(cfg, 0, on_sample, accelerator, policy, reference, tokenizer)  # the start model: the monitors' baseline
    while step < cfg.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        # 4. z0 and the loss's gradients, micro-batch by micro-batch
        metrics = _batch_backward(cfg, weights, accelerator, scorer, reference, train_rows, schedule[step], train_ref,
                                  pad_id=pad_id, shared=shared)
        # 5. step
        grad_norm = accelerator.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        # 6. log
        metrics["learning_rate"] = optimizer.param_groups[0]["lr"]
        metrics["grad_norm"] = float(grad_norm)
        if step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0):
            metrics.update(run_eval())
        draw_if_due(cfg, step, on_sample, accelerator, policy, reference, tokenizer)
        history.append({"step": step, **metrics})
        stopped = stop_together(accelerator, lambda: on_step and on_step(step, metrics))
        # 7. save
        if stopped or (cfg.save_every and step % cfg.save_every == 0 and step < cfg.steps):
            save(ckpt, with_state=True)
        if stopped:
            break
    summary = {"steps_done": step, "resumed_from_step": resumed_from, "n_train_completions": len(train_rows),
               "n_desirable": n_desirable, "n_undesirable": len(train_rows) - n_desirable,
               "desirable_weight": weights[0], "undesirable_weight": weights[1], "n_eval_pairs": len(eval_pairs),
               "shared_prompt_prefix": shared, "last_metrics": history[-1] if history else {}}
    if stopped:
        return {**summary, "model_path": None}
    save(out_dir / FINAL, with_state=False)
    accelerator.wait_for_everyone()  # the folder is written (by the main process) when any process returns
    return {**summary, "model_path": str(out_dir / FINAL)}


def main(argv=None) -> dict:
    from rewardmodel.launch import read_pairs
    from training.kto_data import encode_unpaired, unpair
    from training.launch import launched, parse_launch
    from training.preference_data import encode_preference_pairs

    cfg, (train, held_out), args = parse_launch(argv, doc=__doc__, config_from_dict=kto_config_from_dict, files={
        "--pairs": (read_pairs, 'JSONL of {"prompt": str | messages, "chosen": str, "rejected": str}: both sides '
                                "of each pair become unpaired examples (chosen desirable, rejected undesirable)"),
        "--eval-pairs": (read_pairs, "held-out pairs, the same format (implicit-reward accuracy)")})
    return launched(lambda tokenizer, on_step: kto_train(
        cfg, start_path=args.start, out_dir=args.out, on_step=on_step,
        train_rows=encode_unpaired(tokenizer, unpair(train, seed=cfg.seed), cfg),
        eval_pairs=encode_preference_pairs(tokenizer, held_out, cfg)), start=args.start)


if __name__ == "__main__":
    main()
