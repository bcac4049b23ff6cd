"""Equilibria, linearisations, spectral abscissa, phase velocity field, period estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curse_of_memory.analysis.dynamics import (
    euler_decay_rate,
    euler_leading_mode,
    find_equilibrium,
    gru_linearisation,
    jacobian,
    spectral_abscissa,
    tanh_velocity_field,
)
from curse_of_memory.analysis.periodicity import estimate_period
from curse_of_memory.models import ContinuousGRU


def _gru(seed: int, zero_candidate_bias: bool) -> ContinuousGRU:
    torch.manual_seed(seed)
    gru = ContinuousGRU(6, input_size=1, dt=0.1).double()
    if zero_candidate_bias:
        with torch.no_grad():
            gru.bias_ih[12:] = 0.0
            gru.bias_hh[12:] = 0.0
    return gru


def _zero_input_field(gru: ContinuousGRU):
    x = torch.zeros(1, 1, dtype=torch.float64)
    return lambda h: gru.vector_field(h[None], x)[0]


def test_eq144_is_the_jacobian_at_zero_when_b_h_is_zero():
    gru = _gru(0, zero_candidate_bias=True)
    # the formula, written out from the weights in numpy
    m = 6
    bias = (gru.bias_ih + gru.bias_hh).detach().numpy()
    sig = 1.0 / (1.0 + np.exp(-bias))
    u_h = gru.weight_hh.detach().numpy()[2 * m :]
    expected = np.diag(sig[m : 2 * m]) @ (u_h @ np.diag(sig[:m]) - np.eye(m))
    np.testing.assert_allclose(gru_linearisation(gru).numpy(), expected, atol=1e-15)
    field = _zero_input_field(gru)
    assert float(field(torch.zeros(m, dtype=torch.float64)).detach().abs().max()) == 0.0  # eq 143
    autograd = jacobian(field, torch.zeros(m, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(autograd, expected, atol=1e-14)


def test_equilibrium_with_nonzero_b_h_is_not_the_origin():
    gru = _gru(1, zero_candidate_bias=False)
    field = _zero_input_field(gru)
    assert float(field(torch.zeros(6, dtype=torch.float64)).detach().abs().max()) > 1e-3
    state, residual = find_equilibrium(field, torch.zeros(6, dtype=torch.float64))
    assert residual <= 1e-12 and float(state.abs().max()) > 1e-2
    # the Jacobian there differs from eq 144 (which is the Jacobian at 0)
    assert float((jacobian(field, state) - gru_linearisation(gru)).abs().max()) > 1e-3


def test_eq144_needs_the_paper_reset_gate():
    gru = ContinuousGRU(3, reset_after=True)
    with pytest.raises(ValueError, match="reset_after=False"):
        gru_linearisation(gru)


def test_spectral_abscissa_and_euler_rate_closed_forms():
    assert spectral_abscissa(np.array([[-1.0, 5.0], [0.0, -3.0]])) == pytest.approx(-1.0)
    rotation = np.array([[-0.2, 2.0], [-2.0, -0.2]])  # eigenvalues -0.2 +- 2i
    assert spectral_abscissa(rotation) == pytest.approx(-0.2)
    assert euler_decay_rate(np.array([-0.5 + 0j]), 0.1) == pytest.approx(-math.log(0.95) / 0.1)
    lam = np.array([-0.2 + 2j, -0.2 - 2j])
    expected = -math.log(abs(1 + 0.01 * lam[0])) / 0.01
    assert euler_decay_rate(lam, 0.01) == pytest.approx(expected)
    assert euler_decay_rate(lam, 1e-7) == pytest.approx(0.2, rel=1e-5)  # -> -Re lambda
    rate, frequency = euler_leading_mode(lam, 0.01)
    assert rate == pytest.approx(expected)
    assert frequency == pytest.approx(math.atan2(0.02, 0.998) / 0.01)  # -> |Im lambda| = 2
    with pytest.raises(ValueError, match="square"):
        spectral_abscissa(np.ones((2, 3)))


def test_tanh_velocity_field_is_the_time_derivative_of_the_velocity():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    drive = torch.randn(3, generator=gen, dtype=torch.float64)  # U x + b, constant
    h = torch.randn(3, generator=gen, dtype=torch.float64)

    def velocity(state):
        return torch.tanh(weight @ state + drive)  # paper eq 3

    v = velocity(h)
    # dv/dt = d velocity / dh . dh/dt, with dh/dt = v (autograd jvp)
    _, expected = torch.autograd.functional.jvp(velocity, h, v)
    got = tanh_velocity_field(weight.numpy(), v.numpy())
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)


def test_period_of_known_signals():
    t = np.arange(0, 200, 0.01)
    sine = estimate_period(t, np.sin(2 * np.pi * t / 7.3) + 2.0)
    assert sine.period == pytest.approx(7.3, rel=1e-3)
    assert sine.correlation > 0.9999 and sine.amplitude_ratio == pytest.approx(1.0, abs=1e-3)
    rectified = estimate_period(t, np.abs(np.sin(2 * np.pi * t / 7.3)))
    assert rectified.period == pytest.approx(7.3 / 2, rel=1e-3)
    dying = estimate_period(t, np.exp(-0.05 * t) * np.sin(t))
    assert dying.amplitude_ratio < 0.1
    flat = estimate_period(t, np.zeros_like(t))
    assert math.isnan(flat.period)


def test_period_bad_inputs():
    t = np.arange(0.0, 10.0, 0.1)
    with pytest.raises(ValueError, match="uniformly spaced"):
        estimate_period(t**2, np.sin(t))
    with pytest.raises(ValueError, match="tail_fraction"):
        estimate_period(t, np.sin(t), tail_fraction=1.5)
    with pytest.raises(ValueError, match="empty"):
        estimate_period(t, np.sin(t), min_period=8.0)
