import math

import pytest
import torch

from training.kl import AdaptiveKLController, FixedKLController, kl_per_token


def test_adaptive_controller_follows_the_ziegler_formula_step_by_step():
    ctl = AdaptiveKLController(value=0.2, target=6.0, horizon=10000)

    ctl.update(current_kl=9.0, n_steps=256)  # error 9/6 - 1 = 0.5, clipped to 0.2
    assert ctl.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10000))
    ctl.update(current_kl=6.6, n_steps=256)  # error 0.1, inside the clip
    assert ctl.value == pytest.approx(0.2 * 1.00512 * (1 + 0.1 * 256 / 10000))
    ctl.update(current_kl=0.0, n_steps=1000)  # error -1, clipped to -0.2
    assert ctl.value == pytest.approx(0.2 * 1.00512 * 1.00256 * (1 - 0.2 * 1000 / 10000))


def test_adaptive_controller_leaves_beta_alone_at_the_target():
    ctl = AdaptiveKLController(value=0.3, target=4.0, horizon=100)

    ctl.update(current_kl=4.0, n_steps=64)

    assert ctl.value == pytest.approx(0.3)


def test_fixed_controller_never_moves():
    ctl = FixedKLController(value=0.05)

    ctl.update(current_kl=100.0, n_steps=128)

    assert ctl.value == 0.05


def test_each_kl_estimator_matches_its_definition():
    logp = torch.tensor([[math.log(0.5), math.log(0.2)]])
    ref = torch.tensor([[math.log(0.25), math.log(0.4)]])
    logr = [math.log(2.0), math.log(0.5)]

    assert kl_per_token(logp, ref, "kl").tolist()[0] == pytest.approx(logr)
    assert kl_per_token(logp, ref, "abs").tolist()[0] == pytest.approx([abs(x) for x in logr])
    assert kl_per_token(logp, ref, "mse").tolist()[0] == pytest.approx([0.5 * x * x for x in logr])


def test_full_estimator_is_the_exact_kl_of_the_two_distributions():
    p = torch.tensor([[[0.7, 0.2, 0.1]]])
    q = torch.tensor([[[0.3, 0.3, 0.4]]])
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p[0, 0].tolist(), q[0, 0].tolist()))

    got = kl_per_token(p[..., 0].log(), q[..., 0].log(), "full", all_logprobs=p.log(), all_ref_logprobs=q.log())

    assert got.item() == pytest.approx(expected)


def test_unknown_estimator_is_refused_by_name():
    with pytest.raises(ValueError, match="squared"):
        kl_per_token(torch.zeros(1, 1), torch.zeros(1, 1), "squared")
