"""Supervised fine-tuning on demonstrations: step 1 of RLHF. No Django here; training/execute.py
feeds it the dataset's preferred responses and records progress on the run.

The model starts from any local Hugging Face causal-LM folder, or (`base_model_path=None`, the
offline demo) from scratch: a byte-level BPE tokenizer trained on the demonstrations' own text and
a small GPT-2 config. The loss counts response tokens only: the model learns to answer, not to
write the user's side. Checkpoints are standard HF folders written atomically; a run whose
`out_dir/checkpoint` exists resumes from it.

Launch: through the Celery task or `python manage.py run_sft` (one device), or without Django:
  one device:  python -m training.sft --demonstrations FILE.jsonl --out DIR [--base-model PATH]
  several:     accelerate launch -m training.sft --demonstrations FILE.jsonl --out DIR [--base-model PATH]
Each of N processes takes its own `batch_size` rows of the step's N x batch_size, and DDP averages
the gradients of a loss normalised by the response tokens of the whole step, so N processes take
the step one process takes with N x batch_size.
"""
import argparse
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import set_seed

from common.artifacts import training_checkpoint_save
from common.jsonl import read_jsonl
from common.ml.precision import MIXED_PRECISION_CHOICES, make_accelerator
from common.ml.processes import join_cpu_processes, stop_together
from common.validation import checked_config

CHECKPOINT = "checkpoint"
FINAL = "final"


@dataclass
class SFTConfig:
    steps: int = 300
    """Optimizer steps."""
    batch_size: int = 8
    """Demonstrations per process per step (TRL's per_device_train_batch_size): a step of N processes
    sees N x batch_size."""
    learning_rate: float = 3e-4
    """AdamW peak learning rate (linear warm-up, then constant)."""
    warmup_steps: int = 20
    """Steps of linear learning-rate warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_length: int = 256
    """Tokens per example; the prompt is cut from the left to leave room for the response."""
    max_response_tokens: int = 128
    """Longest response kept (cut from the right)."""
    vocab_size: int = 8000
    """From scratch only: size of the BPE vocabulary trained on the demonstrations."""
    n_layer: int = 2
    """From scratch only: transformer layers."""
    n_embd: int = 128
    """From scratch only: hidden size."""
    n_head: int = 4
    """From scratch only: attention heads."""
    seed: int = 0
    """Seed of initialisation and batch order."""
    save_every: int = 50
    """Write a resumable checkpoint every this many steps (0: only at the end)."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""

    def __post_init__(self):
        checks = [
            (self.max_response_tokens < self.max_length, "max_response_tokens must be below max_length"),
            (self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be at least 1"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def sft_config_from_dict(values: dict) -> SFTConfig:
    return checked_config(SFTConfig, values, what="SFT", noun="option")


def encode_example(tok, prompt: str, response: str, cfg: SFTConfig) -> tuple[list[int], list[int]]:
    """-> (input_ids, labels) with labels -100 on the prompt: only the response is learnt."""
    resp = tok(response, add_special_tokens=False)["input_ids"][: cfg.max_response_tokens - 1] + [tok.eos_token_id]
    room = cfg.max_length - len(resp)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"][-room:] if room > 0 else []
    return prompt_ids + resp, [-100] * len(prompt_ids) + resp


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int):
    L = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), L), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return input_ids, mask, labels


def _load_or_build(cfg: SFTConfig, examples, base_model_path, ckpt: Path):
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer

    if (ckpt / "state.json").exists():
        source = ckpt
    elif base_model_path:
        source = Path(base_model_path)
    else:
        texts = [p + r for p, r in examples]
        tok = train_bpe_tokenizer(texts, vocab_size=cfg.vocab_size)
        model = tiny_causal_lm(tok, seed=cfg.seed, n_layer=cfg.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head,
                               n_positions=cfg.max_length)
        return model, tok
    tok = load_tokenizer(source)
    model = from_pretrained_strict(AutoModelForCausalLM, source)
    return model, tok


def sft_train(cfg: SFTConfig, examples: list[tuple[str, str]], out_dir, *, base_model_path=None,
              on_step: Callable[[int, float], bool] | None = None) -> dict:
    """Trains on (prompt, response) pairs. `on_step(step, loss)` returns True to stop (cancel).
    Returns a summary; "model_path" is the final HF folder, or None when stopped early."""
    if not examples:
        raise ValueError("No demonstrations to train on.")
    out_dir = Path(out_dir)
    ckpt = out_dir / CHECKPOINT
    accelerator = make_accelerator(cfg.mixed_precision)
    set_seed(cfg.seed)  # before any model is built (from scratch, its weights are drawn here)
    model, tok = _load_or_build(cfg, examples, base_model_path, ckpt)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    step, losses = 0, []
    if (ckpt / "state.json").exists():
        state = json.loads((ckpt / "state.json").read_text())
        step, losses = state["step"], state["losses"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True))
    resumed_from = step
    encoded = [encode_example(tok, p, r, cfg) for p, r in examples]
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    def save(target: Path, with_state: bool) -> None:
        training_checkpoint_save(target, accelerator=accelerator, models={"": (model, tok)}, optimizer=optimizer,
                                 state={"step": step, "losses": losses, "config": asdict(cfg)} if with_state else None)

    stopped = False
    world, rank = accelerator.num_processes, accelerator.process_index
    while step < cfg.steps:
        # 1. The step's rows depend only on (seed, step), so a resumed run sees the same data; each
        #    process takes its own batch_size of the step's world x batch_size.
        rng = random.Random(cfg.seed * 1_000_003 + step)
        step_rows = [encoded[rng.randrange(len(encoded))] for _ in range(cfg.batch_size * world)]
        rows = step_rows[rank * cfg.batch_size:(rank + 1) * cfg.batch_size]
        # response tokens the step predicts (a row's first token is predicted by nothing)
        step_tokens = max(1, sum(label != -100 for _, labels in step_rows for label in labels[1:]))
        input_ids, mask, labels = (t.to(accelerator.device) for t in collate(rows, tok.pad_token_id))  # (b, T)
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
        # 2. Loss: summed over this process's response tokens, normalised by the step's tokens over
        #    all processes, times their number, since DDP averages the processes' gradients.
        with accelerator.autocast():
            logits = model(input_ids=input_ids, attention_mask=mask).logits  # (b, T, V)
        token_losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100, reduction="sum"
        )
        loss = token_losses * world / step_tokens
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        # 3. Log the step's loss over all processes; the main process decides a stop for all of them.
        step_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
        losses.append([step, round(step_loss, 5)])
        stopped = stop_together(accelerator, lambda: on_step and on_step(step, step_loss))
        if stopped or (cfg.save_every and step % cfg.save_every == 0):
            save(ckpt, with_state=True)
        if stopped:
            break
    summary = {"steps_done": step, "resumed_from_step": resumed_from, "n_examples": len(examples),
               "first_loss": losses[0][1] if losses else None, "final_loss": losses[-1][1] if losses else None,
               "from_scratch": not base_model_path, "vocab_size": len(tok)}
    if stopped:
        return {**summary, "model_path": None}
    save(out_dir / FINAL, with_state=False)
    return {**summary, "model_path": str(out_dir / FINAL)}


def read_demonstrations(path) -> list[tuple[str, str]]:
    """(prompt, response) of each line of a JSONL file of {"prompt": str, "response": str}."""
    return [(str(row["prompt"]), str(row["response"])) for row in read_jsonl(path, ("prompt", "response"))]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demonstrations", required=True, help='JSONL of {"prompt": str, "response": str}')
    parser.add_argument("--out", required=True)
    parser.add_argument("--base-model", help="a local Hugging Face causal-LM folder (default: from scratch)")
    parser.add_argument("--config", default="{}", help="SFTConfig fields as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = sft_config_from_dict(json.loads(args.config))
        examples = read_demonstrations(args.demonstrations)
        if not examples:
            raise ValueError(f"{args.demonstrations} holds no demonstrations.")
    except (ValueError, TypeError) as exc:  # a malformed file or config (TypeError: an option of the wrong type)
        parser.error(str(exc))
    join_cpu_processes()

    def report(step, loss):
        print(json.dumps({"step": step, "loss": loss}), flush=True)
        return False

    summary = sft_train(cfg, examples, args.out, base_model_path=args.base_model, on_step=report)
    from accelerate import PartialState  # after sft_train, which set it up (from the launch's environment)

    if PartialState().is_main_process:
        print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
