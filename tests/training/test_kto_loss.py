"""The KTO loss on fixed log-probs against values worked out by hand, its reference point, and the
class-balancing weights."""
import math

import pytest
import torch

from training.kto import KTOConfig, class_weights, kl_reference_point, kto_loss


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_kto_loss_matches_the_paper_on_fixed_log_probs():
    # r = policy - ref: desirable +2, undesirable -3; z0 = 0.5; beta 0.5; weights 1.5 and 1
    losses, rewards = kto_loss(torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -17.0]), torch.tensor([True, False]),
                               torch.tensor(0.5), beta=0.5, desirable_weight=1.5, undesirable_weight=1.0)

    assert losses[0].item() == pytest.approx(1.5 * (1 - _sigmoid(0.5 * (2 - 0.5))), abs=1e-6)
    assert losses[1].item() == pytest.approx(1.0 * (1 - _sigmoid(0.5 * (0.5 + 3))), abs=1e-6)
    assert rewards.tolist() == pytest.approx([1.0, -1.5])


def test_the_reference_point_is_the_mean_mismatched_log_ratio_clamped_at_zero():
    positive = kl_reference_point(torch.tensor([-5.0, -7.0]), torch.tensor([-6.0, -7.5]))  # ratios 1, 0.5
    negative = kl_reference_point(torch.tensor([-9.0, -7.0]), torch.tensor([-6.0, -7.5]))  # ratios -3, 0.5

    assert positive.item() == pytest.approx(0.75) and negative.item() == 0.0


def test_the_reference_point_carries_no_gradient():
    policy = torch.tensor([-5.0, -7.0], requires_grad=True)

    z0 = kl_reference_point(policy, torch.tensor([-6.0, -7.5]))

    assert not z0.requires_grad


def test_a_higher_reference_point_asks_more_of_a_desirable_completion():
    args = dict(beta=0.1, desirable_weight=1.0, undesirable_weight=1.0)
    logps, ref, desirable = torch.tensor([-10.0]), torch.tensor([-11.0]), torch.tensor([True])

    low, _ = kto_loss(logps, ref, desirable, 0.0, **args)
    high, _ = kto_loss(logps, ref, desirable, 2.0, **args)

    assert high.item() > low.item()


@pytest.mark.parametrize("n_desirable, n_undesirable, expected", [
    (100, 300, (3.0, 1.0)),          # too few desirable: lambda_D raised until the ratio is 1
    (300, 100, (4 / 9, 1.0)),        # too many: lambda_D lowered until the ratio is 4/3
    (110, 100, (1.0, 1.0)),          # ratio 1.1 is in [1, 4/3] already
    (50, 0, (1.0, 1.0)),             # one class only: nothing to balance
])
def test_unset_weights_balance_the_classes_into_one_to_four_thirds(n_desirable, n_undesirable, expected):
    weights = class_weights(desirable_weight=None, undesirable_weight=None, n_desirable=n_desirable,
                            n_undesirable=n_undesirable)

    assert weights == pytest.approx(expected)
    if n_undesirable:
        assert 1 - 1e-9 <= weights[0] * n_desirable / (weights[1] * n_undesirable) <= 4 / 3 + 1e-9


def test_a_given_weight_is_kept_and_the_other_balances_it():
    assert class_weights(desirable_weight=2.0, undesirable_weight=None, n_desirable=100, n_undesirable=100) == \
        pytest.approx((2.0, 2.0 * 3 / 4))  # ratio 2 -> lambda_U raised to reach 4/3
    assert class_weights(desirable_weight=None, undesirable_weight=2.0, n_desirable=100, n_undesirable=100) == \
        pytest.approx((2.0, 2.0))  # ratio 0.5 -> lambda_D raised to reach 1
    assert class_weights(desirable_weight=0.2, undesirable_weight=0.3, n_desirable=1, n_undesirable=9) == (0.2, 0.3)


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 1}, "batch_size must be at least 2"),
    ({"desirable_weight": 0}, "must be positive"),
    ({"beta": 0}, "beta must be positive"),
])
def test_config_refuses_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        KTOConfig(**options)


def test_the_learning_rate_warms_up_then_stays_or_decays_linearly_to_zero():
    from training.kto import learning_rate

    constant = KTOConfig(steps=10, warmup_steps=2, learning_rate=1.0)
    linear = KTOConfig(steps=10, warmup_steps=2, learning_rate=1.0, lr_schedule="linear")

    assert [learning_rate(constant, s) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]
    # transformers' get_linear_schedule_with_warmup: (steps - s) / (steps - warmup) after the warm-up
    assert [learning_rate(linear, s) for s in (0, 1, 2, 6, 9)] == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.125])
