"""Self-Play fIne-tuNing (SPIN, Chen et al. 2024): SFT data turned into preference pairs against the
policy's own samples. Each iteration, for each demonstration (a prompt and its reference response,
the labellers' majority-preferred one, as SFT reads them):
  1. generate  the current policy (the previous iterate) answers the prompt: the "rejected" side
  2. pairs     the reference response is "chosen", the policy's own response "rejected"
  3. train     DPO steps (training/dpo.py's loop, loss and log-prob code) with the previous iterate
               as the frozen reference, so the policy moves away from its own distribution and
               towards the data's; the iterate is saved as a plain Hugging Face folder
The iterations are steps of one run: iteration k covers steps (k-1) * steps_per_iteration + 1 ..
k * steps_per_iteration. Each iteration's folder holds its checkpoint and final model, so a
resumed run skips the finished iterations and continues the current one from its checkpoint
(generation is seeded, so it draws the same rejected responses again).

The loss is DPO's (sigmoid: the logistic loss of the SPIN paper) or IPO.

Launch: through the Celery task or `manage.py run_spin` (one device), or without Django:
  one device:  python -m training.spin --demonstrations FILE.jsonl --start DIR --out DIR [--config JSON]
  several:     accelerate launch -m training.spin --demonstrations FILE.jsonl --start DIR --out DIR [--config JSON]
On N processes the main one generates each iteration's responses and sends them to the others
(so they are the responses one process draws), and the DPO steps run as training/dpo.py runs
them on several processes: N processes take the steps of one with N x batch_size.
"""
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.validation import checked_config
from common.ml.precision import MIXED_PRECISION_CHOICES
from rewardmodel.batching import EncodedPair
from training.dpo import FINAL, DPOConfig, dpo_train
from training.preference_data import encode_text_pair
from training.runner import checkpoint_step
from training.samples import Drawn, draw_samples
from training.text import render_response


@dataclass
class SPINConfig:
    iterations: int = 3
    """Rounds of generate-then-train; each one's reference is the previous one's policy."""
    steps_per_iteration: int = 20
    """DPO optimizer steps per iteration."""
    batch_size: int = 8
    """Pairs per process per optimizer step: a step of N processes sees N x batch_size."""
    learning_rate: float = 5e-6
    """AdamW peak learning rate (a fresh optimizer each iteration, as in the authors' code)."""
    warmup_steps: int = 0
    """Steps of linear learning-rate warm-up at the start of each iteration."""
    beta: float = 0.1
    """Strength of the implicit KL to the previous iterate."""
    loss_type: str = "sigmoid"
    """"sigmoid" (the SPIN paper's logistic loss, DPO's) or "ipo"."""
    prompts_per_iteration: int = 0
    """Demonstrations used each iteration (a seeded draw; 0: all of them)."""
    max_new_tokens: int = 64
    """Longest response the policy generates."""
    temperature: float = 0.7
    """Sampling temperature of the policy's own responses (seeded per iteration)."""
    max_length: int = 256
    """Tokens per side (prompt + response); the prompt is cut from the left to make room."""
    max_response_tokens: int = 128
    """Longest response kept in a pair (cut from the right)."""
    precompute_ref: bool = True
    """Reference log-probs in one pass per iteration, then the reference is not kept in memory."""
    max_tokens_per_micro_batch: int = 4096
    """Token budget of one forward pass (2 x pairs x longest side)."""
    save_every: int = 0
    """Resumable checkpoint every this many steps inside an iteration (0: only between iterations)."""
    seed: int = 0
    """Seed of sampling and batch order (iteration k uses seed + k)."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""

    def __post_init__(self):
        checks = [
            (self.iterations >= 1 and self.steps_per_iteration >= 1, "iterations and steps_per_iteration must be at least 1"),
            (self.loss_type in ("sigmoid", "ipo"), f"loss_type must be sigmoid or ipo, not {self.loss_type!r}"),
            (self.prompts_per_iteration >= 0, "prompts_per_iteration must be at least 0"),
            (self.max_new_tokens >= 1 and self.temperature > 0, "max_new_tokens must be at least 1, temperature positive"),
            (self.max_new_tokens < self.max_length, "max_new_tokens must be below max_length"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self.dpo(0)  # DPO's own checks (beta, lengths, batch size)

    @property
    def total_steps(self) -> int:
        return self.iterations * self.steps_per_iteration

    def dpo(self, iteration: int) -> DPOConfig:
        """The DPO loop's settings for iteration `iteration` (0-based)."""
        return DPOConfig(steps=self.steps_per_iteration, batch_size=self.batch_size, learning_rate=self.learning_rate,
                         warmup_steps=self.warmup_steps, beta=self.beta, loss_type=self.loss_type,
                         precompute_ref=self.precompute_ref, max_length=self.max_length,
                         max_response_tokens=self.max_response_tokens,
                         max_tokens_per_micro_batch=self.max_tokens_per_micro_batch, save_every=self.save_every,
                         seed=self.seed + iteration, mixed_precision=self.mixed_precision,
                         # SPIN's own optimizer settings, not DPO's defaults (measured for DPO only): with
                         # no weight decay, its two-process test's weights drifted apart beyond 1e-4
                         lr_schedule="constant", weight_decay=0.01)


def spin_config_from_dict(values: dict) -> SPINConfig:
    return checked_config(SPINConfig, values, what="SPIN", noun="option")


def iteration_dir(out_dir, iteration: int) -> Path:
    """Iteration `iteration` (1-based)'s folder: its checkpoint and its final model."""
    return Path(out_dir) / f"iteration-{iteration}"


def spin_steps_done(cfg: SPINConfig, out_dir) -> int:
    """Steps already trained under `out_dir`: the finished iterations, plus the current one's checkpoint."""
    for iteration in range(1, cfg.iterations + 1):
        folder = iteration_dir(out_dir, iteration)
        if not (folder / FINAL / "config.json").is_file():
            return (iteration - 1) * cfg.steps_per_iteration + checkpoint_step(folder)
    return cfg.total_steps


def _iteration_prompts(cfg: SPINConfig, demonstrations: list[tuple[str, str]], iteration: int) -> list[tuple[str, str]]:
    import random

    if not cfg.prompts_per_iteration or cfg.prompts_per_iteration >= len(demonstrations):
        return list(demonstrations)
    return random.Random(cfg.seed + iteration).sample(demonstrations, cfg.prompts_per_iteration)


def spin_pairs(tokenizer, demonstrations: list[tuple[str, str]], drawn: list[Drawn], cfg: SPINConfig) -> list[EncodedPair]:
    """Phase 2: (prompt, reference) of each demonstration against the policy's own response to it,
    both formatted as SFT formats a response, so that formatting tells them apart by nothing."""
    return [encode_text_pair(tokenizer, prompt, reference, render_response(d.response), cfg)
            for (prompt, reference), d in zip(demonstrations, drawn)]


def spin_train(cfg: SPINConfig, *, start_path, demonstrations: list[tuple[str, str]], out_dir,
               on_step: Callable[[int, dict], bool] | None = None,
               on_samples: Callable[[int, int, list[Drawn]], None] | None = None) -> dict:
    """Runs the iterations of the module docstring from `start_path`. `on_step(step, metrics)`
    (steps counted across iterations) returns True to stop (cancel); `on_samples(iteration, step,
    drawn)` gets each iteration's generated responses before it trains. Returns a summary whose
    "model_path" is the last iterate's HF folder, or None when stopped early."""
    from transformers import AutoModelForCausalLM

    from accelerate.utils import broadcast_object_list

    from common.ml.loading import from_pretrained_strict, load_tokenizer
    from common.ml.precision import make_accelerator

    if not demonstrations:
        raise ValueError("No demonstrations.")
    tokenizer = load_tokenizer(start_path)
    accelerator = make_accelerator(cfg.mixed_precision)
    previous, last_metrics = Path(start_path), {}
    for iteration in range(1, cfg.iterations + 1):
        folder = iteration_dir(out_dir, iteration)
        if (folder / FINAL / "config.json").is_file():
            previous = folder / FINAL  # finished before a resume
            continue
        first_step = (iteration - 1) * cfg.steps_per_iteration
        # 1. generate: the previous iterate's own responses (the rejected side), on the main process
        demos = _iteration_prompts(cfg, demonstrations, iteration)
        drawn = None
        if accelerator.is_main_process:
            policy = from_pretrained_strict(AutoModelForCausalLM, previous).to(accelerator.device).eval()
            drawn = draw_samples(policy, tokenizer, [p for p, _ in demos], max_new_tokens=cfg.max_new_tokens,
                                 max_prompt_tokens=cfg.max_length - cfg.max_new_tokens, temperature=cfg.temperature,
                                 seed=cfg.seed + iteration)
            del policy
            if on_samples is not None:
                on_samples(iteration, first_step, drawn)
        if accelerator.num_processes > 1:
            drawn = broadcast_object_list([drawn])[0]  # every process pairs the same responses
        # 2. pairs: reference response chosen, own response rejected
        pairs = spin_pairs(tokenizer, demos, drawn, cfg)

        # 3. train: DPO steps from the previous iterate, which is also the reference
        def step_done(step: int, metrics: dict) -> bool:
            last_metrics.update(metrics, **{"spin/iteration": iteration})
            return bool(on_step(first_step + step, {**metrics, "spin/iteration": iteration})) if on_step else False

        summary = dpo_train(cfg.dpo(iteration), start_path=previous, train_pairs=pairs, eval_pairs=[], out_dir=folder,
                            on_step=step_done)
        if summary["model_path"] is None:
            return {"steps_done": spin_steps_done(cfg, out_dir), "iterations_done": iteration - 1,
                    "model_path": None, "last_metrics": last_metrics}
        previous = Path(summary["model_path"])
    return {"steps_done": cfg.total_steps, "iterations_done": cfg.iterations, "n_demonstrations": len(demonstrations),
            "model_path": str(previous), "last_metrics": last_metrics}


def main(argv=None) -> dict:
    from training.launch import launched, parse_launch
    from training.sft import read_demonstrations

    cfg, (demonstrations,), args = parse_launch(argv, doc=__doc__, config_from_dict=spin_config_from_dict, files={
        "--demonstrations": (read_demonstrations, 'JSONL of {"prompt": str, "response": str}')})
    return launched(lambda tokenizer, on_step: spin_train(cfg, start_path=args.start, demonstrations=demonstrations,
                                                          out_dir=args.out, on_step=on_step), start=args.start)


if __name__ == "__main__":
    main()
