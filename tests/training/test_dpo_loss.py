"""The DPO losses on fixed log-probs: against values worked out by hand, and against an
independent formula (torch's binary cross-entropy with logits: cDPO is BCE on beta * h with the
soft target 1 - eps)."""
import math

import pytest
import torch
import torch.nn.functional as F

from training.dpo import DPOConfig, dpo_loss

# h = (pi_c - ref_c) - (pi_r - ref_r) = (-10 + 12) - (-14 + 13) = 3
LOGPS = dict(policy_chosen=torch.tensor([-10.0]), policy_rejected=torch.tensor([-14.0]),
             ref_chosen=torch.tensor([-12.0]), ref_rejected=torch.tensor([-13.0]))


def _bce_reference(h: torch.Tensor, beta: float, eps: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(beta * h, torch.full_like(h, 1 - eps), reduction="none")


def test_sigmoid_loss_is_minus_log_sigmoid_of_beta_h():
    losses, chosen, rejected = dpo_loss(**LOGPS, beta=0.5, loss_type="sigmoid")

    assert losses.item() == pytest.approx(math.log(1 + math.exp(-1.5)), abs=1e-6)  # -log sigmoid(0.5 * 3)
    assert chosen.item() == pytest.approx(0.5 * 2) and rejected.item() == pytest.approx(0.5 * -1)


def test_cdpo_loss_mixes_both_labels_by_eps():
    losses, _, _ = dpo_loss(**LOGPS, beta=0.5, loss_type="cdpo", label_smoothing=0.2)

    expected = 0.8 * math.log(1 + math.exp(-1.5)) + 0.2 * math.log(1 + math.exp(1.5))
    assert losses.item() == pytest.approx(expected, abs=1e-6)


def test_ipo_loss_is_the_squared_distance_of_h_to_one_over_two_beta():
    losses, _, _ = dpo_loss(**LOGPS, beta=0.25, loss_type="ipo")

    assert losses.item() == pytest.approx((3 - 2) ** 2)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_sigmoid_and_cdpo_agree_with_binary_cross_entropy(eps):
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-20 * torch.rand(16, generator=g, dtype=torch.float64) for _ in range(4))

    losses, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.3, loss_type="cdpo" if eps else "sigmoid", label_smoothing=eps)

    torch.testing.assert_close(losses, _bce_reference((pc - rc) - (pr - rr), 0.3, eps))


def test_cdpo_takes_one_eps_per_pair():
    h_logps = {k: v.repeat(2) for k, v in LOGPS.items()}

    losses, _, _ = dpo_loss(**h_logps, beta=0.5, loss_type="cdpo", label_smoothing=torch.tensor([0.0, 0.25]))

    h = torch.tensor([3.0])
    torch.testing.assert_close(losses, torch.cat([_bce_reference(h, 0.5, 0.0), _bce_reference(h, 0.5, 0.25)]))


@pytest.mark.parametrize("options, message", [
    ({"loss_type": "kto"}, "loss_type"),
    ({"beta": 0.0}, "beta"),
    ({"loss_type": "sigmoid", "label_smoothing": 0.1}, "only for loss_type 'cdpo'"),
    ({"loss_type": "cdpo", "label_smoothing": 0.5}, "label_smoothing"),
])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        DPOConfig(**options)
