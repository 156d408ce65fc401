"""Preference losses on the rewards of (chosen, rejected), one value per pair.

- Bradley-Terry: P(chosen wins) = sigmoid(r_w - r_l), optionally with the Llama 2 margin
  (sigmoid(r_w - r_l - m)) and with soft labels (p_win < 1 when the votes were not unanimous).
- Davidson (tie-aware): P(win) ∝ exp(r_w), P(lose) ∝ exp(r_l), P(tie) ∝ nu * sqrt(exp(r_w) exp(r_l))
  with a learned nu, so tie and both-bad votes become evidence that the rewards are close.
- Length control: a learned coefficient beta on the normalised length difference is added to the
  logit (the way Chatbot Arena's style control adds style covariates to its Bradley-Terry model).
  The length effect is then carried by beta, not by the reward, so r is what the labellers
  preferred beyond length. We chose a covariate over a penalty on corr(reward, length): the penalty
  depends on batch statistics (noisy at batch 16) and pushes against length even where longer
  answers really were better, whereas the covariate only removes what length alone predicts and
  keeps the loss a proper likelihood.
- Reward centring: coefficient * (r_w + r_l)^2, as TRL's center_rewards_coefficient.
"""
import torch
import torch.nn.functional as F
from torch import nn


class PreferenceHead(nn.Module):
    """The loss's own learned parameters (trained with the model, saved in the model card)."""

    def __init__(self, *, length_control: bool, tie_aware: bool):
        super().__init__()
        self.length_coef = nn.Parameter(torch.zeros(())) if length_control else None
        self.log_nu = nn.Parameter(torch.zeros(())) if tie_aware else None

    def summary(self) -> dict:
        out = {}
        if self.length_coef is not None:
            out["length_coef"] = float(self.length_coef.detach())
        if self.log_nu is not None:
            out["tie_nu"] = float(self.log_nu.detach().exp())
        return out


def preference_loss(
    r_w: torch.Tensor,
    r_l: torch.Tensor,
    batch: dict[str, torch.Tensor],
    *,
    head: PreferenceHead,
    use_margin: bool,
    center_rewards_coefficient: float | None,
) -> torch.Tensor:
    """Loss per pair, shape (n,). r_w, r_l: (n,) rewards of chosen and rejected."""
    logit = r_w - r_l  # (n,)
    if head.length_coef is not None:
        logit = logit + head.length_coef * batch["length_feature"]
    p_win = batch["p_win"]  # (n,) share of the decisive votes that went to chosen
    if head.log_nu is None:
        margin = batch["margin"] if use_margin else 0.0
        loss = -(p_win * F.logsigmoid(logit - margin) + (1 - p_win) * F.logsigmoid(-logit))
    else:
        half = logit / 2
        log_z = torch.logsumexp(torch.stack([half, -half, head.log_nu.expand_as(half)]), dim=0)  # (n,)
        p_tie = batch["p_tie"]
        decisive = 1 - p_tie
        loss = -(decisive * p_win * (half - log_z) + decisive * (1 - p_win) * (-half - log_z) + p_tie * (head.log_nu - log_z))
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * (r_w + r_l) ** 2
    return loss
