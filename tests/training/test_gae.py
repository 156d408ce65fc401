import pytest
import torch

from training.ppo import PPOConfig, gae
from training.rollout import masked_whiten, top_p_filter


def test_gae_matches_a_hand_computation():
    rewards = torch.tensor([[0.0, 0.5, 1.0]])
    values = torch.tensor([[0.2, 0.4, 0.6]])
    mask = torch.ones(1, 3)
    gamma, lam = 0.9, 0.8
    # by hand, from the last step back (V after the end = 0)
    d2 = 1.0 + 0.9 * 0.0 - 0.6  # 0.4
    d1 = 0.5 + 0.9 * 0.6 - 0.4  # 0.64
    d0 = 0.0 + 0.9 * 0.4 - 0.2  # 0.16
    a2 = d2
    a1 = d1 + 0.9 * 0.8 * a2
    a0 = d0 + 0.9 * 0.8 * a1

    adv, ret = gae(rewards, values, mask, gamma, lam)

    assert adv[0].tolist() == pytest.approx([a0, a1, a2])
    assert ret[0].tolist() == pytest.approx([a0 + 0.2, a1 + 0.4, a2 + 0.6])


def test_gae_ignores_positions_after_the_response_ended():
    rewards = torch.tensor([[1.0, 7.0]])
    values = torch.tensor([[0.5, 9.0]])
    mask = torch.tensor([[1.0, 0.0]])

    adv, _ = gae(rewards, values, mask, 1.0, 0.95)

    assert adv[0].tolist() == pytest.approx([0.5, 0.0])  # 1.0 + 0 - 0.5; the padded step counts for nothing


def test_whitening_uses_only_masked_in_entries():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])

    w = masked_whiten(x, mask)

    assert w[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()

    kept = top_p_filter(logits, 0.7)

    assert torch.isfinite(kept[0]).tolist() == [True, True, False, False]


def test_config_refuses_mini_batches_that_do_not_divide_the_batch():
    with pytest.raises(ValueError, match="divide"):
        PPOConfig(batch_size=16, mini_batch_size=5)
