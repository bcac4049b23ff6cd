"""Decay-law fits on analytic memories, random torch RNNs and noise floors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from curse_of_memory.analysis import DecayFit, fit_decay, memory_function
from curse_of_memory.targets.linear import LinearFunctional


def test_exponential_target_rate():
    # The paper's exponential memory rho = 0.9^t (paper eq 120): rate -ln 0.9.
    memory = memory_function(LinearFunctional(lambda t: 0.9**t), 400, 1.0)
    fit = fit_decay(memory)
    assert fit.law == "exponential"
    assert fit.rate == pytest.approx(-math.log(0.9), rel=1e-3)
    assert fit.exponent is None
    assert fit.misfit_exponential < fit.tolerance < fit.misfit_polynomial + fit.tolerance
    # 0.9^t hits the relative floor 1e-10 near t = 219: the rest is not used.
    assert 200 < fit.window[1] < 220
    assert fit.summary().startswith("exponential decay, rate 0.1054")


def test_polynomial_target_exponent():
    # rho = 1/(t+1)^1.5 (paper Sec 3.3): the fitted offset recovers t0 = 1.
    memory = memory_function(LinearFunctional(lambda t: (t + 1.0) ** -1.5), 1000, 0.5)
    fit = fit_decay(memory)
    assert fit.law == "polynomial"
    assert fit.exponent == pytest.approx(1.5, rel=1e-3)
    assert fit.t0 == pytest.approx(1.0, rel=1e-2) and fit.tau == fit.t0
    assert fit.rate is None
    assert fit.misfit_polynomial < fit.tolerance < fit.misfit_exponential
    assert fit.summary().startswith("polynomial decay, exponent 1.5")


def test_official_polynomial_target_gets_its_offset():
    # (1 + 0.1 t)^{-1.1} on t in [0, 99] (the official code's target): a fixed t0 = 1
    # gave exponent 0.72; the fitted offset gives tau = 10 and p = 1.1.
    t = np.arange(100.0)
    fit = fit_decay((t, (1 + 0.1 * t) ** -1.1))
    assert fit.law == "polynomial"
    assert fit.exponent == pytest.approx(1.1, rel=1e-4)
    assert fit.tau == pytest.approx(10.0, rel=1e-3)
    fixed = fit_decay((t, (1 + 0.1 * t) ** -1.1), t0=1.0)
    assert fixed.t0 == 1.0 and fixed.pol_exponent < 1.0  # the old, biased estimate


@pytest.mark.parametrize("options", [{}, {"t0": 1e-6}, {"t_start": 20.0}])
def test_pure_power_law(options):
    # t^{-1.5}: the offset is fitted (t0 ~ 0), fixed near 0, or the early window skipped.
    t = np.arange(1.0, 2001.0)
    fit = fit_decay((t, t**-1.5), **options)
    assert fit.law == "polynomial"
    assert fit.exponent == pytest.approx(1.5, rel=1e-3)


def test_finely_sampled_steep_power_law():
    # t^{-3} at dt = 0.01 (a fixed t0 = 1 gave exponent 4.7).
    t = np.arange(1, 1001) * 0.01
    fit = fit_decay((t, t**-3.0))
    assert fit.law == "polynomial"
    assert fit.exponent == pytest.approx(3.0, rel=1e-4)
    assert abs(fit.t0) < 1e-4


def test_stretched_exponential_is_other():
    # e^{-sqrt t} decays faster than any power and slower than any exponential.
    t = np.arange(1000.0)
    fit = fit_decay((t, np.exp(-np.sqrt(t))))
    assert fit.law == "other"
    assert fit.rate is None and fit.exponent is None
    assert "neither law fits" in fit.reason and fit.margin > 1
    with pytest.raises(ValueError, match="no decay law"):
        fit.predict(t)


@pytest.mark.parametrize(
    "values",
    [lambda t: np.full_like(t, 0.3), lambda t: 1 + 0.5 * np.sin(t), lambda t: np.exp(-t) + 0.2],
    ids=["constant", "periodic", "decays-to-a-constant"],
)
def test_memory_that_does_not_decay(values):
    t = np.arange(0.0, 200.0, 0.1)
    fit = fit_decay((t, values(t)))
    assert fit.law == "non-decaying"
    assert "no decay" in fit.reason
    assert fit.short() == "non-decaying"


def test_predict_reproduces_exact_laws():
    t = np.linspace(0.0, 50.0, 200)
    exp_fit = fit_decay((t, 3.0 * np.exp(-0.2 * t)))
    np.testing.assert_allclose(exp_fit.predict(t), 3.0 * np.exp(-0.2 * t), rtol=1e-8)
    pol_fit = fit_decay((t, 2.0 * (t + 1.0) ** -0.7))
    np.testing.assert_allclose(pol_fit.predict(t), 2.0 * (t + 1.0) ** -0.7, rtol=1e-7)
    assert pol_fit.pol_prefactor == pytest.approx(2.0, rel=1e-7)


def _zero_input_rate(rnn: torch.nn.RNN) -> float:
    """-ln of the spectral radius of the tanh RNN's Jacobian at its zero-input fixed point."""
    w = rnn.weight_hh_l0.detach().double()
    b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().double()
    h = torch.zeros(w.shape[0], dtype=torch.float64)
    for _ in range(2000):
        h = torch.tanh(w @ h + b)
    jac = torch.diag(1 - h**2) @ w
    return -math.log(float(torch.linalg.eigvals(jac).abs().max()))


def test_random_tanh_rnn_is_exponential_at_its_linearised_rate():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(4, 16, batch_first=True)
    fit = fit_decay(memory_function(rnn, 200, 1.0))
    assert fit.law == "exponential"
    # The zero-input trajectory converges at the same rate as the dominant mode, which
    # adds a k rho^k term: the fitted rate sits a little below -ln rho on a finite window.
    assert fit.rate == pytest.approx(_zero_input_rate(rnn), rel=0.1)


@pytest.mark.parametrize("cls", [torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM])
def test_random_gated_rnns_are_exponential(cls):
    # Amplitudes of order one, as in the paper's Fig 10. (Much larger inputs saturate
    # GRU/LSTM gates and give far slower memory; see the report.)
    torch.manual_seed(0)
    model = cls(4, 16, batch_first=True)
    fit = fit_decay(memory_function(model, 200, 1.0))
    assert fit.law == "exponential", fit.summary()
    assert fit.rate > 0.1


def test_noise_floor_is_not_called_polynomial():
    # 0.5^t reaches float64 rounding near t = 53; the rest is noise of ~1e-17. Fitting
    # the whole curve would see a flattening tail, i.e. something "slower than exp".
    rng = np.random.default_rng(0)
    t = np.arange(600.0)
    values = 0.5**t + 1e-17 * np.abs(rng.normal(size=t.size))
    fit = fit_decay((t, values))
    assert fit.law == "exponential"
    assert fit.rate == pytest.approx(math.log(2.0), rel=1e-3)
    assert fit.window[1] < 45


def test_plateau_above_relative_floor_is_cut():
    # A float32-like floor at 1e-9 relative, above the default noise_floor = 1e-10:
    # the flattening detection must end the window where the decay stalls.
    rng = np.random.default_rng(1)
    t = np.arange(800.0)
    values = 0.9**t + 1e-9 * (1 + np.abs(rng.normal(size=t.size)))
    fit = fit_decay((t, values))
    assert fit.law == "exponential"
    assert fit.rate == pytest.approx(-math.log(0.9), rel=0.02)
    assert fit.window[1] < 200  # 0.9^t = 1e-9 at t ~ 197


def test_pure_noise_is_undetermined():
    rng = np.random.default_rng(2)
    t = np.arange(1000.0)
    fit = fit_decay((t, 1e-16 * np.abs(rng.normal(size=t.size))))
    assert fit.law == "undetermined"
    assert fit.rate is None and fit.exponent is None and fit.margin is None
    assert "noise only" in fit.reason
    assert fit.summary().startswith("undetermined: noise only")
    with pytest.raises(ValueError, match="no decay law"):
        fit.predict(t)


def test_too_few_points_is_undetermined():
    t = np.arange(5.0)
    fit = fit_decay((t, np.exp(-t)))
    assert fit.law == "undetermined" and "point" in fit.reason
    assert fit.n_points == 5


def test_growing_curve_is_non_decaying():
    t = np.arange(1.0, 50.0)
    for options in ({}, {"t_start": 1.0, "t_end": 49.0}):
        fit = fit_decay((t, np.exp(0.1 * t)), **options)
        assert fit.law == "non-decaying" and "grows" in fit.reason


def test_short_noisy_window_is_undetermined():
    # (t+1)^{-2} on t in [100, 110] with 0.1 % noise: t grows by 10 %, and within the
    # noise an exponential fits as well as the power law.
    rng = np.random.default_rng(0)
    t = np.arange(100.0, 110.0, 0.1)
    fit = fit_decay((t, (t + 1) ** -2.0 * np.exp(1e-3 * rng.normal(size=t.size))))
    assert fit.law == "undetermined" and "spans only a factor" in fit.reason


def test_explicit_window_is_used():
    t = np.arange(100.0)
    values = np.where(t < 30, (t + 1.0) ** -2.0, np.exp(-0.3 * (t - 30)) * 31.0**-2.0)
    late = fit_decay((t, values), t_start=35.0, t_end=90.0)
    assert late.window == (35.0, 90.0)
    assert late.n_points == 56
    assert late.law == "exponential" and late.rate == pytest.approx(0.3, rel=1e-9)
    early = fit_decay((t, values), t_end=29.0)
    assert early.law == "polynomial" and early.exponent == pytest.approx(2.0, rel=1e-9)


def test_to_dict_is_plain_data():
    fit = fit_decay((np.arange(50.0), np.exp(-np.arange(50.0) / 7)))
    data = fit.to_dict()
    assert isinstance(fit, DecayFit)
    assert data["law"] == "exponential" and data["window"] == [25.0, 49.0]  # the tail
    assert data["rate"] == pytest.approx(1 / 7, rel=1e-9)
    json.dumps(data, allow_nan=False)


@pytest.mark.parametrize(
    ("memory", "kwargs", "error", "match"),
    [
        ("curve", {}, TypeError, "MemoryFunction or a pair"),
        ((np.arange(5.0), np.ones(4)), {}, ValueError, "equal length"),
        ((np.arange(5.0), -np.ones(5)), {}, ValueError, ">= 0"),
        ((np.arange(5.0)[::-1], np.ones(5)), {}, ValueError, "increasing"),
        ((np.arange(5.0), np.array([1, 2, np.nan, 1, 1.0])), {}, ValueError, "finite"),
        ((np.arange(5.0), np.zeros(5)), {}, ValueError, "all zero"),
        ((np.arange(9.0), np.ones(9)), {"noise_floor": 1.0}, ValueError, "noise_floor"),
        ((np.arange(9.0), np.ones(9)), {"t0": 0.0}, ValueError, "t0 must be > -t"),
        ((np.arange(9.0), np.ones(9)), {"t0": math.nan}, ValueError, "t0"),
        ((np.arange(9.0), np.ones(9)), {"min_points": 2}, ValueError, "min_points"),
        ((np.arange(9.0), np.ones(9)), {"t_start": 5.0, "t_end": 2.0}, ValueError, "t_end"),
        ((np.arange(9.0), np.ones(9)), {"t_start": 50.0}, ValueError, "no points"),
    ],
)
def test_bad_arguments_raise(memory, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_decay(memory, **kwargs)


def test_bumps_far_above_the_noise_floor_stay_in_the_window():
    # A polynomially decaying memory with a +-30 % ripple: its envelope stalls every
    # period, which must not be mistaken for the rounding-noise floor; the law is
    # fitted to the local maxima (the upper envelope).
    t = np.arange(2000.0)
    values = (1 + 0.3 * np.sin(t / 5)) / (t + 1) ** 1.5
    fit = fit_decay((t, values))
    assert fit.window[1] > 1950
    assert fit.law == "polynomial"
    assert fit.exponent == pytest.approx(1.5, rel=0.01)
