"""Direct Preference Optimisation (Rafailov et al. 2023) and two variants, on labelled pairs:
the policy learns the labellers' preferences directly, without a reward model or sampling.

Read it top to bottom: `DPOConfig`, `dpo_loss` (the maths), `pair_logps` (one forward pass for
chosen and rejected), then `dpo_train`, whose body runs the numbered phases:
  1. load      policy from the start folder (or the last checkpoint), tokenizer, optimizer
  2. reference frozen copy of the start model, or its log-probs precomputed in one pass
               (then freed: the reference is not held in memory during training)
  3. schedule  length-grouped batches, each cut into micro-batches under a token budget
  4. loss      DPO / IPO / conservative DPO on the micro-batches, normalised by the batch size
  5. step      clip, AdamW, linear warm-up, then a constant or linearly decaying learning rate
  6. log       metrics named as TRL logs them (`rewards/chosen`, `logps/rejected`, ...) and, every
               `eval_every` steps and at the end, held-out implicit-reward accuracy (eval split,
               and gold pairs); every `sample_every` steps, a few sampled responses (`on_sample`)
  7. save      resumable checkpoint; at the end the policy as a plain Hugging Face folder

Losses, with h = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)):
  sigmoid (DPO):      -log sigmoid(beta * h)
  cdpo (conservative): -(1 - eps) log sigmoid(beta * h) - eps log sigmoid(-beta * h), eps the
                      probability that the label is wrong: fixed, or per pair 1 - p_win, the
                      share of decisive votes against the chosen side (per_judgement selection)
  ipo:                (h - 1 / (2 beta))^2 on log-probs averaged over response tokens (as TRL)
Implicit rewards are beta * (log pi - log ref) per side (the same log-probs the loss uses).

Launch: through the Celery task or `manage.py run_dpo` (one device), or without Django:
  one device:  python -m training.dpo --pairs PAIRS.jsonl --start DIR --out DIR [--config JSON]
  several:     accelerate launch -m training.dpo --pairs PAIRS.jsonl --start DIR --out DIR [--config JSON]
Each of N processes takes its share of the step's N x batch_size pairs, and DDP averages the
gradients of a loss normalised by the pairs of the whole step, so N processes take the step one
process takes with N x batch_size; the logged metrics are the whole step's. bf16 autocast on a GPU
that supports it.
"""
import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import set_seed

from common.artifacts import training_checkpoint_save
from common.ml.precision import MIXED_PRECISION_CHOICES, make_accelerator
from common.ml.processes import process_share, stop_together, sum_over_processes
from common.validation import checked_config
from rewardmodel.batching import EncodedPair, collate, collate_shared_prefix, length_grouped_batches, split_by_token_budget
from training.samples import SampleOptions, draw_if_due

CHECKPOINT = "checkpoint"
FINAL = "final"
LOSS_TYPES = ("sigmoid", "ipo", "cdpo")


@dataclass
class DPOConfig(SampleOptions):
    """DPO's settings; the `sample_*` ones (samples for reading and for the monitors) are `SampleOptions`'."""
    steps: int = 100
    """Optimizer steps (each one batch of `batch_size` pairs)."""
    batch_size: int = 8
    """Pairs per process per optimizer step (TRL's per_device_train_batch_size): a step of N
    processes sees N x batch_size."""
    learning_rate: float = 5e-6
    """AdamW peak learning rate (reached after the linear warm-up)."""
    warmup_steps: int = 10
    """Steps of linear learning-rate warm-up."""
    lr_schedule: str = "linear"
    """After the warm-up: "linear", down to 0 at the last step (the Trainer's and TRL's default), or
    "constant". On the anchors' DPO benchmark over three seeds, linear without weight decay matched
    TRL's mean held-out accuracy, constant with decay 0.01 was 0.012 below (docs/benchmarks.md)."""
    weight_decay: float = 0.0
    """AdamW weight decay (the Trainer's and TRL's default; torch's own is 0.01)."""
    beta: float = 0.1
    """Strength of the implicit KL to the reference: small beta lets the policy move further."""
    loss_type: str = "sigmoid"
    """"sigmoid" (DPO), "ipo" or "cdpo" (conservative DPO, label smoothing)."""
    label_smoothing: float | None = None
    """cdpo only: the probability eps that a label is wrong, in [0, 0.5). None: per pair,
    1 - p_win (the selection's soft label; needs per_judgement aggregation to be below 1)."""
    precompute_ref: bool = False
    """Compute the reference log-probs in one pass before training and free the reference model;
    False keeps a frozen reference in memory and runs it beside the policy."""
    max_length: int = 256
    """Tokens per side (prompt + response); the prompt is cut from the left to make room."""
    max_response_tokens: int = 128
    """Longest response kept (cut from the right)."""
    max_tokens_per_micro_batch: int = 4096
    """Token budget of one forward pass (2 x pairs x longest side); a batch over it is split."""
    length_group_window: int = 8
    """Batches sorted by length together (a mega-batch), so that a batch pads little."""
    share_prompt_prefix: bool = True
    """Run the prompt once per pair (chosen and rejected continue it in one row); only for causal
    decoders, otherwise chosen and rejected are two padded rows of one batch."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm; None: no clipping."""
    eval_every: int = 0
    """Evaluate on the held-out pairs every this many steps (0: only at the end)."""
    seed: int = 0
    """Seed of batch order."""
    save_every: int = 50
    """Write a resumable checkpoint every this many steps (0: only at the end)."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""

    def __post_init__(self):
        checks = [
            (self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be at least 1"),
            (self.beta > 0, f"beta must be positive, not {self.beta}"),
            (self.lr_schedule in ("constant", "linear"), f"lr_schedule must be constant or linear, not {self.lr_schedule!r}"),
            (self.weight_decay >= 0, f"weight_decay must be at least 0, not {self.weight_decay}"),
            (self.loss_type in LOSS_TYPES, f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {self.loss_type!r}"),
            (self.label_smoothing is None or 0 <= self.label_smoothing < 0.5,
             f"label_smoothing must be in [0, 0.5), not {self.label_smoothing}"),
            (self.label_smoothing is None or self.loss_type == "cdpo", "label_smoothing is only for loss_type 'cdpo'"),
            (0 < self.max_response_tokens < self.max_length, "max_response_tokens must be positive and below max_length"),
            (self.max_tokens_per_micro_batch >= 2, "max_tokens_per_micro_batch must be at least 2"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ] + self.sample_checks()
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def dpo_config_from_dict(values: dict) -> DPOConfig:
    return checked_config(DPOConfig, values, what="DPO", noun="option")


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, *, beta: float, loss_type: str, label_smoothing: torch.Tensor | float = 0.0):
    """Loss per pair and the implicit rewards of each side, all (n,). The log-probs are (n,):
    summed over response tokens, or averaged for IPO (the caller's choice, as in TRL).
    `label_smoothing` (cdpo) is eps, a float or one per pair."""
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)  # (n,)
    if loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type in ("sigmoid", "cdpo"):
        eps = label_smoothing if loss_type == "cdpo" else 0.0
        losses = -F.logsigmoid(beta * h) * (1 - eps) - F.logsigmoid(-beta * h) * eps
    else:
        raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, not {loss_type!r}")
    chosen_rewards = beta * (policy_chosen - ref_chosen).detach()
    rejected_rewards = beta * (policy_rejected - ref_rejected).detach()
    return losses, chosen_rewards, rejected_rewards


def _targets(pairs: list[EncodedPair], *, shared: bool, shared_lengths: list[int] | None):
    """Where each response token is predicted in the collated batch: (row, position of the logits
    that predict it, token id, index of its (pair, side) in 0..2n-1: chosen i -> i, rejected i -> n+i).
    Prompt tokens (meta["prompt_len"]) are not targets. In the shared-prefix layout row i is
    chosen + rejected[k:], so rejected token j sits at j (j < k) or len(chosen) + j - k."""
    n = len(pairs)
    rows, positions, tokens, owners = [], [], [], []
    for i, p in enumerate(pairs):
        for side, ids in ((0, p.chosen_ids), (1, p.rejected_ids)):
            moved = shared and side == 1  # rejected's own tokens sit after chosen's in the shared row
            for j in range(max(p.meta["prompt_len"][side], 1), len(ids)):
                before = j - 1  # the token whose logits predict token j
                if moved and before >= shared_lengths[i]:
                    before += len(p.chosen_ids) - shared_lengths[i]
                rows.append(i if shared else i + side * n)
                positions.append(before)
                tokens.append(ids[j])
                owners.append(i + side * n)
    return [torch.tensor(x, dtype=torch.long) for x in (rows, positions, tokens, owners)]


class ResponseLogits(torch.nn.Module):
    """A causal LM whose forward returns only the (M, V) logits at the positions that predict a
    response token. The LM head runs on those positions only: on a small model the output layer is
    a large share of the work, and the full (rows, T, V) logits its largest activation. A model
    whose head does more than a linear map (logit soft-capping or scaling) takes the full forward
    pass. This is the module DDP wraps on several processes (its forward is what DDP watches)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs: dict, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        model = self.model
        head, config = model.get_output_embeddings(), model.config
        if head is None or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
            return model(**inputs).logits[rows, positions]
        hidden = model.base_model(**inputs).last_hidden_state  # (rows, T, H)
        return head(hidden[rows, positions])


def pair_logps(model, pairs: list[EncodedPair], *, pad_id: int, shared: bool, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of each side's response tokens and their counts, both (2n,): chosen of
    pairs 0..n-1, then rejected. One forward pass for chosen and rejected together. `model` is a
    causal LM, or a `ResponseLogits` (DDP-wrapped on several processes)."""
    n = len(pairs)
    scorer = model if isinstance(model, (ResponseLogits, torch.nn.parallel.DistributedDataParallel)) else ResponseLogits(model)
    if shared:
        batch = collate_shared_prefix(pairs, pad_id)  # n rows: prefix, chosen's tokens, rejected's tokens
        keys = ("input_ids", "attention_mask", "position_ids")
        rows, positions, tokens, owners = _targets(pairs, shared=True, shared_lengths=batch["shared"].tolist())
    else:
        batch = collate(pairs, pad_id)  # 2n rows: chosen, then rejected
        keys = ("input_ids", "attention_mask")
        rows, positions, tokens, owners = _targets(pairs, shared=False, shared_lengths=None)
    rows, positions, tokens, owners = (t.to(device) for t in (rows, positions, tokens, owners))
    logits = scorer({k: batch[k].to(device) for k in keys}, rows, positions)  # (M, V)
    token_logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[:, None])[:, 0]  # (M,)
    sums = torch.zeros(2 * n, device=device).index_add(0, owners, token_logps)  # (2n,)
    counts = torch.zeros(2 * n, device=device).index_add(0, owners, torch.ones_like(token_logps))  # (2n,)
    return sums, counts


@torch.inference_mode()
def reference_logps(model, pairs: list[EncodedPair], *, pad_id: int, shared: bool, max_tokens: int, device,
                    accelerator=None) -> torch.Tensor:
    """(len(pairs), 2) summed reference log-probs of (chosen, rejected) for every pair, in order:
    the one pass of `precompute_ref`. With an `accelerator`, each process scores its share of the
    pairs and every process gets the whole table."""
    out = torch.zeros(len(pairs), 2)
    mine = list(range(len(pairs))) if accelerator is None else process_share(accelerator, list(range(len(pairs))))
    for micro in split_by_token_budget(mine, pairs, max_tokens):
        sums, _ = pair_logps(model, [pairs[i] for i in micro], pad_id=pad_id, shared=shared, device=device)
        out[micro] = sums.view(2, len(micro)).T.float().cpu()
    if accelerator is not None and accelerator.num_processes > 1:
        out = accelerator.reduce(out.to(accelerator.device), reduction="sum").cpu()  # each row is one process's, 0 elsewhere
    return out


def _micro_batch_loss(cfg: DPOConfig, policy, reference, pairs, idx, ref_table, *, pad_id, shared, device):
    """Loss terms of one micro-batch: (losses, chosen rewards, rejected rewards, policy log-probs
    (2m,) summed). The reference is `ref_table[idx]` when precomputed, else a live forward pass."""
    micro = [pairs[i] for i in idx]
    m = len(micro)
    sums, counts = pair_logps(policy, micro, pad_id=pad_id, shared=shared, device=device)  # (2m,), (2m,)
    if ref_table is not None:
        ref_sums = ref_table[idx].T.reshape(-1).to(device)  # (2m,) chosen then rejected
    else:
        with torch.no_grad():
            ref_sums, _ = pair_logps(reference, micro, pad_id=pad_id, shared=shared, device=device)
    pi, ref = (sums / counts, ref_sums / counts) if cfg.loss_type == "ipo" else (sums, ref_sums)
    if cfg.loss_type == "cdpo" and cfg.label_smoothing is None:
        eps = 1 - torch.tensor([p.p_win for p in micro], device=device)  # (m,)
    else:
        eps = cfg.label_smoothing or 0.0
    losses, r_c, r_r = dpo_loss(pi[:m], pi[m:], ref[:m], ref[m:], beta=cfg.beta, loss_type=cfg.loss_type,
                                label_smoothing=eps)
    return losses, r_c, r_r, sums.detach()


@torch.no_grad()
def evaluate(cfg: DPOConfig, policy, reference, pairs, ref_table, *, pad_id, shared, device, accelerator=None) -> dict:
    """Held-out metrics, TRL's names with the `eval_` prefix; `eval_rewards/accuracies` is the share
    of pairs whose chosen side gets the higher implicit reward. With an `accelerator`, each process
    scores its share of the pairs (with `policy` unwrapped: no collective in the forward pass) and
    every process gets the metrics of all of them."""
    was_training = policy.training
    policy.eval()
    totals = {"loss": 0.0, "acc": 0.0, "margin": 0.0}
    mine = list(range(len(pairs))) if accelerator is None else process_share(accelerator, list(range(len(pairs))))
    for micro in split_by_token_budget(mine, pairs, cfg.max_tokens_per_micro_batch):
        losses, r_c, r_r, _ = _micro_batch_loss(cfg, policy, reference, pairs, micro, ref_table, pad_id=pad_id,
                                                shared=shared, device=device)
        totals["loss"] += float(losses.sum())
        totals["acc"] += float((r_c > r_r).float().sum())
        totals["margin"] += float((r_c - r_r).sum())
    policy.train(was_training)
    if accelerator is not None:
        totals = sum_over_processes(accelerator, totals)
    n = len(pairs)
    return {"eval_loss": totals["loss"] / n, "eval_rewards/accuracies": totals["acc"] / n,
            "eval_rewards/margins": totals["margin"] / n}


def _batch_backward(cfg: DPOConfig, accelerator, policy, reference, pairs, batch: list[int], ref_table, *, pad_id,
                    shared) -> dict:
    """Backward of the step's mean loss: this process's share of `batch` (the step's pairs over all
    processes), micro-batch by micro-batch under the token budget, each one's loss divided by the
    whole step's size (times the processes, as DDP averages their gradients), so that the gradient
    depends neither on the split nor on the number of processes. Gradients are synchronised once,
    at the last micro-batch. Returns the whole step's metrics, named as TRL logs them."""
    sums = {"loss": 0.0, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/accuracies": 0.0,
            "logps/chosen": 0.0, "logps/rejected": 0.0}
    micros = split_by_token_budget(process_share(accelerator, batch), pairs, cfg.max_tokens_per_micro_batch)
    for k, micro in enumerate(micros):
        with accelerator.no_sync(policy) if k < len(micros) - 1 else contextlib.nullcontext():
            with accelerator.autocast():
                losses, r_c, r_r, logps = _micro_batch_loss(cfg, policy, reference, pairs, micro, ref_table,
                                                            pad_id=pad_id, shared=shared,
                                                            device=accelerator.device)  # (m,) each; (2m,)
            accelerator.backward(losses.sum() * accelerator.num_processes / len(batch))
        m = len(micro)
        sums["loss"] += float(losses.detach().sum())
        sums["rewards/chosen"] += float(r_c.sum())
        sums["rewards/rejected"] += float(r_r.sum())
        sums["rewards/accuracies"] += float((r_c > r_r).float().sum())
        sums["logps/chosen"] += float(logps[:m].sum())
        sums["logps/rejected"] += float(logps[m:].sum())
    metrics = {key: value / len(batch) for key, value in sum_over_processes(accelerator, sums).items()}
    metrics["rewards/margins"] = metrics["rewards/chosen"] - metrics["rewards/rejected"]
    return metrics


def lr_scale(cfg, step: int) -> float:
    """The learning rate of (0-based) step `step` over the peak: linear warm-up, then constant or
    linear decay to 0 at the last step (as transformers' get_linear_schedule_with_warmup). `cfg`
    is any trainer config with `warmup_steps`, `lr_schedule` and `steps` (DPO's, KTO's)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "linear":
        return max(0.0, (cfg.steps - step) / max(cfg.steps - cfg.warmup_steps, 1))
    return 1.0


def _step_batches(cfg, pairs: list[EncodedPair], world: int = 1) -> list[list[int]]:
    """Enough length-grouped batches of `world` x batch_size for every step, epoch after epoch
    (epoch e shuffled with seed + e): the batch of step s depends only on the seed and the step's
    size, so a resumed run sees the same data, and N processes the batches of one with N times the
    batch size. On several processes a batch smaller than their number is left out (every process
    must take part in every step). `cfg` is any trainer config with steps, batch_size,
    length_group_window and seed (DPO's, KTO's)."""
    if len(pairs) < world:
        raise ValueError(f"{len(pairs)} training rows are fewer than the {world} processes.")
    out, epoch = [], 0
    while len(out) < cfg.steps:
        batches = length_grouped_batches(pairs, batch_size=cfg.batch_size * world, window=cfg.length_group_window,
                                         seed=cfg.seed + epoch)
        out += [b for b in batches if len(b) >= world]
        epoch += 1
    return out[: cfg.steps]


def dpo_train(cfg: DPOConfig, *, start_path, train_pairs: list[EncodedPair], eval_pairs: list[EncodedPair], out_dir,
              on_step: Callable[[int, dict], bool] | None = None, gold_pairs: list[EncodedPair] = (),
              on_sample: Callable[..., None] | None = None) -> dict:
    """Trains the policy in `start_path` (also the reference) on encoded pairs (see
    training/preference_data.py); the numbered phases of the module docstring, in order.
    `on_step(step, metrics)` returns True to stop (cancel). `gold_pairs` (gold answer first, on
    held-out prompts) are evaluated beside `eval_pairs`: `eval_gold_rewards/accuracies`.
    `on_sample(step, policy, reference, tokenizer)` is called on the main process every
    `cfg.sample_every` steps, before the first step and after the last (reference None when
    precomputed; see training/samples.py::draw_if_due). Resumes from `out_dir/checkpoint` when it
    exists. Returns a summary; "model_path" is the final HF folder, or None when stopped early."""
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer
    from rewardmodel.backbone import is_decoder
    from training.runner import disable_dropout

    if not train_pairs:
        raise ValueError("No training pairs.")
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
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    step, history = 0, []
    if resume:
        state = json.loads((ckpt / "state.json").read_text())
        step, history = state["step"], state["history"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    resumed_from = step

    # 2. reference: always the start model (never the checkpoint); precomputed, or kept frozen
    reference = from_pretrained_strict(AutoModelForCausalLM, start_path).to(device).eval().requires_grad_(False)
    gold_pairs = list(gold_pairs)
    train_ref = eval_ref = gold_ref = None
    if cfg.precompute_ref:
        with accelerator.autocast():
            train_ref, eval_ref, gold_ref = (
                reference_logps(reference, split, pad_id=pad_id, shared=shared, accelerator=accelerator,
                                max_tokens=cfg.max_tokens_per_micro_batch, device=device)  # (N, 2)
                for split in (train_pairs, eval_pairs, gold_pairs))
        reference = None
    # The policy's forward as DDP runs it on several processes; `policy` stays the plain model
    # (evaluation, samples and saving use it: no collective there).
    scorer, optimizer = accelerator.prepare(ResponseLogits(policy), optimizer)
    policy.train()

    def save(target: Path, with_state: bool) -> None:
        training_checkpoint_save(target, accelerator=accelerator, models={"": (policy, tokenizer)}, optimizer=optimizer,
                                 state={"step": step, "history": history, "config": asdict(cfg)} if with_state else None)

    def run_eval() -> dict:
        out = {}
        with accelerator.autocast():
            if eval_pairs:
                out.update(evaluate(cfg, policy, reference, eval_pairs, eval_ref, pad_id=pad_id, shared=shared,
                                    device=device, accelerator=accelerator))
            if gold_pairs:
                gold = evaluate(cfg, policy, reference, gold_pairs, gold_ref, pad_id=pad_id, shared=shared, device=device,
                                accelerator=accelerator)
                out["eval_gold_rewards/accuracies"] = gold["eval_rewards/accuracies"]
        return out

    # 3. schedule
    schedule = _step_batches(cfg, train_pairs, accelerator.num_processes)
    stopped = False
    if step == 0:
        draw_if_due(cfg, 0, on_sample, accelerator, policy, reference, tokenizer)  # the start model: the monitors' baseline
    while step < cfg.steps:
        batch = schedule[step]  # the step's pairs, all processes'
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * lr_scale(cfg, step)
        # 4. loss and gradients of this process's share of the batch, micro-batch by micro-batch
        metrics = _batch_backward(cfg, accelerator, scorer, reference, train_pairs, batch, train_ref, pad_id=pad_id,
                                  shared=shared)
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
    summary = {"steps_done": step, "resumed_from_step": resumed_from, "n_train_pairs": len(train_pairs),
               "n_eval_pairs": len(eval_pairs), "shared_prompt_prefix": shared,
               "last_metrics": history[-1] if history else {}}
    if stopped:
        return {**summary, "model_path": None}
    save(out_dir / FINAL, with_state=False)
    accelerator.wait_for_everyone()  # the folder is written (by the main process) when any process returns
    return {**summary, "model_path": str(out_dir / FINAL)}


def main(argv=None) -> dict:
    from rewardmodel.launch import read_pairs
    from training.launch import launched, parse_launch
    from training.preference_data import encode_preference_pairs

    cfg, (train, held_out), args = parse_launch(argv, doc=__doc__, config_from_dict=dpo_config_from_dict, files={
        "--pairs": (read_pairs, 'JSONL of {"prompt": str | messages, "chosen": str, "rejected": str}'),
        "--eval-pairs": (read_pairs, "held-out pairs, the same format")})
    return launched(lambda tokenizer, on_step: dpo_train(
        cfg, start_path=args.start, out_dir=args.out, on_step=on_step,
        train_pairs=encode_preference_pairs(tokenizer, train, cfg),
        eval_pairs=encode_preference_pairs(tokenizer, held_out, cfg)), start=args.start)


if __name__ == "__main__":
    main()
