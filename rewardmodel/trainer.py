"""Bradley-Terry reward-model training loop (torch + transformers + accelerate, no Trainer).

One device (CPU or GPU):      python manage.py train_reward_model --dataset NAME --inline
                              (or a Celery worker: the same without --inline)
Several GPUs or machines:     accelerate launch --num_processes N -m rewardmodel.launch \
                                  --base-model PATH --pairs train.jsonl --output OUT
(each process takes its share of every step's batches and DDP averages the gradients.)

Phases per optimizer step: 1. cut the step's batches into micro-batches under a token budget,
2. forward chosen and rejected together (decoders: one row per pair, the shared prompt once, or
several pairs per row with `packing`; rewardmodel/packing.py), 3. loss (normalised by the step's
total weight, so neither micro-batching nor the number of processes changes it) and backward,
4. clip, optimizer and schedule step, 5. log (metric sums kept on the device, fetched once per
step), heartbeat and evaluate, 6. checkpoint. Nothing here touches Django.
"""
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from common.ml.precision import make_accelerator
from common.ml.processes import stop_together
from rewardmodel.batching import EncodedPair, collate, length_grouped_batches, split_by_token_budget
from rewardmodel.config import RewardTrainConfig
from rewardmodel.losses import PreferenceHead, preference_loss
from rewardmodel.packing import collate_packed, segment_attention_mask
from rewardmodel.reward import rewards_at, sequence_rewards


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    """One dict per logged step (`step`, `epoch`, `loss`, `accuracy`, ... and `eval_*` when evaluated)."""
    stopped: bool = False
    """True when `on_step` asked to stop (cancel)."""
    head: dict = field(default_factory=dict)
    """The loss's learned parameters (length coefficient, tie nu)."""
    steps: int = 0
    resumed_from: int = 0
    """The checkpoint's step when training resumed from one."""


class PairRewardModel(torch.nn.Module):
    """Rewards of (chosen, rejected) for a micro-batch: the module accelerate prepares (and DDP wraps).
    `rows`: the batch is `collate_packed`'s rows of segments (shared prompt and/or packing), else
    `collate`'s padded chosen-then-rejected sequences."""

    def __init__(self, model, *, rows: bool):
        super().__init__()
        self.model = model
        self.rows = rows

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self.rows:
            dtype = next(self.model.parameters()).dtype
            mask = segment_attention_mask(self.model, batch["segment"], batch["part"], dtype=dtype)  # (R, 1, T, T)
            hidden = self.model.base_model(
                input_ids=batch["input_ids"], attention_mask=mask, position_ids=batch["position_ids"]
            ).last_hidden_state  # (R, T, d)
            # each side's last token (its EOS), in its own row: where sequence_rewards reads an unshared sequence
            return (rewards_at(self.model, hidden, batch["chosen_end"], batch["chosen_row"]),
                    rewards_at(self.model, hidden, batch["rejected_end"], batch["rejected_row"]))  # (m,), (m,)
        rewards = sequence_rewards(self.model, batch["input_ids"], batch["attention_mask"])  # (2m,)
        m = rewards.shape[0] // 2
        return rewards[:m], rewards[m:]


@torch.inference_mode()
def score_pairs(model, pairs: list[EncodedPair], *, pad_token_id: int, max_tokens: int = 8192) -> tuple[list[float], list[float]]:
    """Rewards of chosen and rejected for every pair, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    r_w, r_l = [0.0] * len(pairs), [0.0] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: pairs[i].n_tokens)
    for micro in split_by_token_budget(order, pairs, max_tokens):
        batch = collate([pairs[i] for i in micro], pad_token_id)
        rewards = sequence_rewards(model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).cpu().tolist()  # (2m,)
        for j, i in enumerate(micro):
            r_w[i], r_l[i] = rewards[j], rewards[len(micro) + j]
    model.train(was_training)
    return r_w, r_l


def _eval_metrics(model, pairs, pad_token_id, cfg) -> dict:
    r_w, r_l = score_pairs(model, pairs, pad_token_id=pad_token_id, max_tokens=cfg.max_tokens_per_micro_batch * 2)
    d = torch.tensor(r_w) - torch.tensor(r_l)
    return {
        "eval_loss": float(-torch.nn.functional.logsigmoid(d).mean()),
        "eval_accuracy": float((d > 0).float().mean()),
        "eval_margin": float(d.mean()),
    }


def _save_checkpoint(path: Path, *, model, head, optimizer, scheduler, step, history):
    from common.artifacts import atomic_directory

    with atomic_directory(path) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "head": head.state_dict(),
                "step": step,
                "history": history,
                "rng": torch.get_rng_state(),
            },
            tmp / "trainer_state.pt",
        )


def _load_checkpoint(path: Path, *, model, head, optimizer, scheduler) -> tuple[int, list[dict]]:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)  # a mismatched weight is an error
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    head.load_state_dict(state["head"])
    torch.set_rng_state(state["rng"])
    return state["step"], state["history"]


METRICS = ["loss", "accuracy", "margin", "mean_reward"]
"""Per-step sums accumulated on the device: weighted loss, correct pairs, sum of r_w - r_l, sum of (r_w + r_l) / 2."""
COUNTS = ["num_tokens", "num_padded_tokens", "pairs"]
"""Per-step counts known on the host: real tokens through the model, tokens computed (with padding), pairs."""


def _token_counts(batch: dict, n_pairs: int) -> list[int]:
    """(real tokens, computed tokens, pairs) of a collated micro-batch, read before it leaves the host."""
    if "num_tokens" in batch:  # collate_packed
        return [int(batch["num_tokens"]), int(batch["num_padded_tokens"]), n_pairs]
    return [int(batch["attention_mask"].sum()), batch["input_ids"].numel(), n_pairs]


def _forward_backward(scorer, head, batch, cfg, accelerator, *, scale: float) -> torch.Tensor:
    """Phases 2-3 for one micro-batch: rewards, loss, backward of `scale` x the weighted loss sum.
    Returns the METRICS sums, (4,) float64 on the device, detached (no graph outlives the call)."""
    r_w, r_l = scorer(batch)  # (m,), (m,)
    per_pair = preference_loss(
        r_w, r_l, batch, head=head, use_margin=cfg.use_margin, center_rewards_coefficient=cfg.center_rewards_coefficient,
    )  # (m,)
    weighted = (per_pair * batch["weight"]).sum()
    accelerator.backward(weighted * scale)
    with torch.no_grad():
        d = (r_w - r_l).detach()  # (m,)
        return torch.stack([weighted.detach().float(), (d > 0).sum().float(), d.sum(), (r_w + r_l).sum() / 2]).double()


def train(
    cfg: RewardTrainConfig,
    *,
    model,
    pad_token_id: int,
    train_pairs: list[EncodedPair],
    eval_pairs: list[EncodedPair],
    checkpoint_dir: str | os.PathLike | None = None,
    on_step=None,
    accelerator=None,
) -> TrainResult:
    """Trains `model` in place. `on_step(step, total_steps, logs)` is called after every optimizer
    step (on the main process) and may return True to stop (a cancel). With `checkpoint_dir`, a
    checkpoint is saved every `cfg.checkpoint_steps` steps and training resumes from it."""
    if not train_pairs:
        raise ValueError("There are no training pairs.")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    accelerator = accelerator or make_accelerator(cfg.mixed_precision)
    if cfg.fuse_gelu:
        from rewardmodel.backbone import fuse_gelu

        fuse_gelu(model)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.config.use_cache = False
    from rewardmodel.backbone import is_decoder

    # the layout: rows of segments (shared prompt, packing) for a decoder read at its last token
    decoder = is_decoder(model) and isinstance(getattr(model, "score", None), torch.nn.Linear)
    if cfg.packing and not decoder:
        raise ValueError(
            f"Sequence packing needs a causal decoder with a linear score head (GPT-2, Llama, ...); "
            f"{type(model).__name__} is not one (an encoder reads its reward from a pooled first token). Turn packing off."
        )
    shared_prefix = cfg.share_prompt_prefix and decoder
    rows = shared_prefix or cfg.packing
    pack = partial(collate_packed, shared_prefix=shared_prefix, pack=cfg.packing, row_tokens=cfg.packing_row_tokens) if rows else collate
    head = PreferenceHead(length_control=cfg.length_control, tie_aware=cfg.loss_type == "davidson")

    # 1. the schedule: every epoch's batches (grouped by length) cut into optimizer steps;
    #    each process takes every num_processes-th batch of a step, and every process knows the
    #    weight of the whole step (all processes), the loss's normaliser
    world, rank = accelerator.num_processes, accelerator.process_index
    per_step = cfg.gradient_accumulation_steps * world
    epochs = []
    for epoch in range(cfg.num_train_epochs):
        batches = length_grouped_batches(
            train_pairs, batch_size=cfg.batch_size, window=cfg.length_group_window, seed=cfg.seed + epoch
        )
        steps = [batches[s : s + per_step] for s in range(0, len(batches), per_step)]
        if world > 1 and len(steps[-1]) < per_step:
            steps.pop()  # every process must take part in every step
        epochs.append([
            (step_batches[rank::world], sum(train_pairs[i].weight for b in step_batches for i in b))
            for step_batches in steps
        ])
    total_steps = sum(len(e) for e in epochs)
    if total_steps == 0:
        raise ValueError(f"{len(train_pairs)} training pairs are fewer than one optimizer step needs on {world} processes.")

    # 2. optimizer (fused AdamW) and linear schedule with optional warm-up
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    warmup = int(cfg.warmup_ratio * total_steps)

    def lr_lambda(step):
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    scorer, optimizer = accelerator.prepare(PairRewardModel(model, rows=rows), optimizer)
    head.to(accelerator.device)

    # 3. resume from the last checkpoint when there is one
    ckpt = Path(checkpoint_dir) / "last" if checkpoint_dir else None
    step, history = 0, []
    if ckpt is not None and (ckpt / "trainer_state.pt").exists():
        step, history = _load_checkpoint(
            ckpt, model=model, head=head, optimizer=optimizer, scheduler=scheduler
        )

    result = TrainResult(history=history, resumed_from=step)
    scorer.train()
    done = 0
    for epoch, steps in enumerate(epochs):
        for j, (step_batches, step_weight) in enumerate(steps):
            done += 1
            if done <= step:
                continue  # already trained before the checkpoint we resumed from
            # 4. forward/backward per micro-batch. The loss is normalised by the weight of the whole
            #    step, over all processes, times their number: DDP averages the processes'
            #    gradients, so the step's gradient is that of sum(weight * loss) / step_weight,
            #    whatever the processes' own shares of the weight.
            micro_batches = [m for b in step_batches for m in split_by_token_budget(b, train_pairs, cfg.max_tokens_per_micro_batch)]
            # metric sums stay on the device (no host sync per micro-batch); token counts are known on the host
            sums = torch.zeros(len(METRICS), dtype=torch.float64, device=accelerator.device)
            counts = torch.zeros(len(COUNTS), dtype=torch.float64)
            for k, micro in enumerate(micro_batches):
                batch = pack([train_pairs[i] for i in micro], pad_token_id)
                counts += torch.tensor(_token_counts(batch, len(micro)), dtype=torch.float64)
                batch = {key: t.to(accelerator.device, non_blocking=True) for key, t in batch.items()}
                sync = k == len(micro_batches) - 1
                with nullcontext() if sync else accelerator.no_sync(scorer):
                    sums += _forward_backward(scorer, head, batch, cfg, accelerator, scale=world / step_weight)
                del batch
            # 5. clip, step (the loss head is not inside DDP: average its gradients by hand)
            if world > 1:
                for p in head.parameters():
                    p.grad = accelerator.reduce(p.grad, reduction="mean")
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            # 6. log (TRL's metric names), evaluate, heartbeat / cancel; the step's sums over all
            #    processes, fetched to the host once per step
            totals = accelerator.reduce(torch.cat([sums, counts.to(sums.device)]), reduction="sum")
            grad_norm = torch.as_tensor(grad_norm, dtype=totals.dtype, device=totals.device).reshape(1)
            totals = dict(zip(METRICS + COUNTS + ["grad_norm"], torch.cat([totals, grad_norm]).tolist()))
            pairs_done = max(1, totals["pairs"])
            logs = {
                "step": done,
                "epoch": round(epoch + (j + 1) / len(steps), 4),
                "loss": totals["loss"] / step_weight,
                "accuracy": totals["accuracy"] / pairs_done,
                "margin": totals["margin"] / pairs_done,
                "mean_reward": totals["mean_reward"] / pairs_done,
                "learning_rate": lr,
                "grad_norm": totals["grad_norm"],
                "num_tokens": int(totals["num_tokens"]),
                "num_padded_tokens": int(totals["num_padded_tokens"]),
                **head.summary(),
            }
            end_of_epoch = j == len(steps) - 1
            if eval_pairs and ((cfg.eval_steps and done % cfg.eval_steps == 0) or (not cfg.eval_steps and end_of_epoch) or done == total_steps):
                logs.update(_eval_metrics(model, eval_pairs, pad_token_id, cfg))
            if done % cfg.logging_steps == 0 or "eval_loss" in logs or done == total_steps:
                result.history.append(logs)
            stop = stop_together(accelerator, lambda: on_step and on_step(done, total_steps, logs))
            # 7. checkpoint (also on a cancel, so that a resume continues from here)
            if ckpt is not None and accelerator.is_main_process and (
                stop or (cfg.checkpoint_steps and done % cfg.checkpoint_steps == 0 and done < total_steps)
            ):
                _save_checkpoint(ckpt, model=model, head=head, optimizer=optimizer, scheduler=scheduler,
                                 step=done, history=result.history)
            if stop:
                result.stopped = True
                result.steps = done
                result.head = head.summary()
                return result
    result.steps = done
    result.head = head.summary()
    return result

