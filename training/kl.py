"""The KL penalty of RLHF: per-token estimators of KL(policy || reference) and the controllers
that set its coefficient beta.

Estimators (per response token t, with logr_t = log pi(y_t) - log ref(y_t), y_t sampled from pi):
- "kl":   logr_t                   unbiased for the sequence KL, can be negative token by token;
- "abs":  |logr_t|                 never negative, biased upwards;
- "mse":  0.5 * logr_t ** 2        never negative, low variance (the k2 of Schulman's note);
- "full": sum_v pi(v) (log pi(v) - log ref(v)), the exact KL of the two next-token distributions,
          which needs both full distributions.
These are the four `kl_penalty` options of the classic TRL PPOTrainer.
"""
from dataclasses import dataclass

import torch

KL_PENALTIES = ("kl", "abs", "mse", "full")


def kl_per_token(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    kind: str,
    *,
    all_logprobs: torch.Tensor | None = None,
    all_ref_logprobs: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, T) log-probabilities of the sampled tokens -> (B, T) KL estimate per token.
    "full" needs `all_logprobs` and `all_ref_logprobs`: (B, T, V) log-softmax of both models."""
    if kind == "kl":
        return logprobs - ref_logprobs
    if kind == "abs":
        return (logprobs - ref_logprobs).abs()
    if kind == "mse":
        return 0.5 * (logprobs - ref_logprobs).square()
    if kind == "full":
        if all_logprobs is None or all_ref_logprobs is None:
            raise ValueError('kl_penalty "full" needs the full distributions of both models.')
        return (all_logprobs.exp() * (all_logprobs - all_ref_logprobs)).sum(-1)
    raise ValueError(f"Unknown kl_penalty {kind!r}; expected one of {', '.join(KL_PENALTIES)}.")


@dataclass
class FixedKLController:
    """beta stays where it was set."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


@dataclass
class AdaptiveKLController:
    """The proportional controller of Ziegler et al. 2019 ("Fine-Tuning Language Models from
    Human Preferences", section 2.2): beta moves so the observed KL tracks `target`.

        proportional_error = clip(current_kl / target - 1, -0.2, 0.2)
        mult = 1 + proportional_error * n_steps / horizon
        beta = beta * mult

    `n_steps` is the number of episodes in the batch just seen, `horizon` how many episodes it
    takes for beta to move by a factor e at the clipped error."""

    value: float
    target: float
    horizon: float

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1, -0.2), 0.2)
        mult = 1 + proportional_error * n_steps / self.horizon
        self.value *= mult
