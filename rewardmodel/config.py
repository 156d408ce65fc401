"""The trainer's settings (importable without torch, so that forms and the API can validate them)."""
from dataclasses import asdict, dataclass

from common.ml.precision import MIXED_PRECISION_CHOICES


@dataclass
class RewardTrainConfig:
    max_length: int = 256
    """Tokens per sequence (prompt + response); longer pairs are truncated from the left."""
    batch_size: int = 16
    """Pairs per device per micro-step (TRL's per_device_train_batch_size)."""
    gradient_accumulation_steps: int = 1
    """Batches per optimizer step."""
    max_tokens_per_micro_batch: int = 8192
    """Padded tokens (chosen + rejected) per forward pass; a batch above it is split. Bounds peak memory."""
    num_train_epochs: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    """Share of the steps with a linear warm-up; then linear decay to 0."""
    max_grad_norm: float = 1.0
    seed: int = 1234
    length_group_window: int = 50
    """Batches per length-sorted mega-batch (Hugging Face's group_by_length uses 50)."""
    loss_type: str = "bradley_terry"
    """'bradley_terry' or 'davidson' (tie-aware: ties and both-bad votes count as evidence of closeness)."""
    use_margin: bool = False
    """Llama 2 margin loss: the strength of the votes sets how far apart the rewards should be."""
    center_rewards_coefficient: float | None = None
    """Penalty on (r_w + r_l)^2 that keeps rewards centred on 0 (TRL's option of the same name)."""
    length_control: bool = False
    """Learn a length coefficient in the logit so that the reward does not pay for length."""
    mixed_precision: str = "auto"
    """'no', 'bf16' or 'auto' (bf16 on a GPU that supports it, else fp32)."""
    num_threads: int = 0
    """torch CPU threads; 0 keeps torch's default."""
    gradient_checkpointing: bool = False
    """Trades compute for memory; off by default (on CPU it made TRL over 50x slower)."""
    share_prompt_prefix: bool = True
    """Causal decoders: one row per pair, the shared prompt computed once (exact: the rejected
    response attends to the prompt and itself only, at its own positions)."""
    packing: bool = False
    """Causal decoders: several pairs' sequences in one row, position ids restarting per sequence
    and attention confined to each (block-diagonal causal; with share_prompt_prefix, rejected still
    sees its prompt). Exact. Meant for a GPU (sdpa or flex_attention); see docs/benchmarks.md for
    why it is off by default. Encoders refuse it."""
    packing_row_tokens: int = 0
    """Row length when packing; 0 = the micro-batch's longest sequence (no row then costs more
    attention than a padded one, but length-grouped batches leave little to pack). Longer rows
    remove more padding; with SDPA's dense mask a row's attention grows with its length squared,
    flex_attention's block mask skips the other sequences' blocks."""
    fuse_gelu: bool = True
    """Run GPT-2's Python GELU as PyTorch's fused kernel of the same formula."""
    logging_steps: int = 1
    eval_steps: int = 0
    """Evaluate every N optimizer steps; 0 = at the end of every epoch."""
    checkpoint_steps: int = 50
    """Save a resumable checkpoint every N optimizer steps (0 = never)."""
    eval_batch_size: int = 32

    def __post_init__(self):
        checks = [
            (self.batch_size >= 1 and self.gradient_accumulation_steps >= 1, "batch sizes must be at least 1"),
            (self.max_length >= 8, "max_length must be at least 8 tokens"),
            (self.max_tokens_per_micro_batch >= 2 * self.max_length,
             "max_tokens_per_micro_batch must hold at least one pair (2 x max_length)"),
            (0 <= self.packing_row_tokens <= self.max_tokens_per_micro_batch,
             "packing_row_tokens must be between 0 and max_tokens_per_micro_batch"),
            (self.num_train_epochs >= 1, "num_train_epochs must be at least 1"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.loss_type in ("bradley_terry", "davidson"), f"unknown loss_type {self.loss_type!r}"),
            (not (self.use_margin and self.loss_type == "davidson"), "the margin applies to the Bradley-Terry loss only"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
            (self.logging_steps >= 1 and self.eval_steps >= 0 and self.checkpoint_steps >= 0, "step intervals must not be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return asdict(self)
