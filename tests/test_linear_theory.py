"""Linear theory (paper Appendix C, D): least-squares fits as linear ContinuousRNNs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curse_of_memory.analysis.linear_theory import (
    CONSTANT_MODE,
    FIT_READINGS,
    PAPER_UNPERTURBED_ERRORS,
    PAPER_WIDTHS,
    ExponentialSumFit,
    discrete_eigenvalues,
    fit_exponential_sum,
    fit_power_law_quadrature,
    fit_reading,
    linear_rnn,
    linear_target,
    rescaling_example,
    rescaling_target,
)
from curse_of_memory.analysis.perturbation import impulse_response_loss, perturbation_error

A = -math.log(0.9)


def _impulse_response(model, length: int) -> np.ndarray:
    """Outputs of the model for the input 1/dt at step 0: ``(length,)``."""
    x = torch.zeros(1, length, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0 / model.dt
    with torch.no_grad():
        return model(x)[0, :, 0].numpy()


def _mp_residual(target: str, eigenvalues: np.ndarray, times: np.ndarray) -> float:
    """Least-squares residual norm in 50-digit arithmetic (mpmath QR), independent of LAPACK."""
    mpmath = pytest.importorskip("mpmath")  # installed with torch (through sympy)
    mpmath.mp.dps = 50
    rho = {"exp": lambda t: mpmath.mpf("0.9") ** t, "pol": lambda t: (t + 1) ** mpmath.mpf("-1.1")}
    ts = [mpmath.mpf(float(t)) for t in times]
    design = mpmath.matrix(
        [[mpmath.exp(mpmath.mpf(float(lam)) * t) for lam in eigenvalues] for t in ts]
    )
    rhs = mpmath.matrix([rho[target](t) for t in ts])
    _, residual = mpmath.qr_solve(design, rhs)
    return float(residual)


def test_time_grid_reading_represents_exponential_memory_exactly():
    # eigenvalues -a k with a = -ln 0.9: 0.9^t is the k = 1 mode, c = e_1
    for width in (2, 6, 14):
        fit = fit_reading("time_grid", linear_target("exp"), width)
        assert np.allclose(fit.eigenvalues, -A * np.arange(1, width + 1))
        expected = np.zeros(width)
        expected[0] = 1.0
        assert np.allclose(fit.coefficients, expected, atol=1e-6)
        assert fit.meta["residual_sup"] < 1e-10


@pytest.mark.parametrize("target", ["exp", "pol"])
@pytest.mark.parametrize("width", [2, 6])
def test_polynomial_reading_residual_matches_high_precision_least_squares(target, width):
    spec = FIT_READINGS["polynomial"]
    fit = fit_reading("polynomial", linear_target(target), width)
    assert fit.eigenvalues[0] == CONSTANT_MODE and np.array_equal(
        fit.eigenvalues[1:], -np.arange(1.0, width)
    )
    reference = _mp_residual(target, fit.eigenvalues, spec.times)
    assert fit.meta["residual_l2"] == pytest.approx(reference, rel=1e-8)


def test_polynomial_reading_samples_are_uniform_in_s():
    spec = FIT_READINGS["polynomial"]
    s = np.exp(-spec.times)
    assert spec.steps.size == 100 and np.unique(spec.steps).size == 100
    # s = j / 100 up to the rounding of t to the dt = 0.01 grid (|ds| <= s dt / 2)
    assert np.allclose(np.sort(s), np.arange(1, 101) / 100, rtol=0.006)


def test_discrete_eigenvalues_reproduce_the_exponential():
    lam, dt = np.array([-3.0, -0.1, -1e-3, 0.2]), 0.05
    k = np.arange(0, 50)
    q = 1 + dt * discrete_eigenvalues(lam, dt)
    assert np.allclose(q[None, :] ** k[:, None], np.exp(np.outer(k * dt, lam)), rtol=1e-12)
    assert np.all(np.sign(discrete_eigenvalues(lam, dt)) == np.sign(lam))


@pytest.mark.parametrize("parametrization", ["direct", "exp", "softplus"])
@pytest.mark.parametrize("reading", ["polynomial", "time_grid"])
def test_linear_rnn_impulse_response_is_the_exponential_sum(parametrization, reading):
    spec = FIT_READINGS[reading]
    fit = fit_reading(reading, linear_target("pol"), 6)
    model = linear_rnn(fit, spec.dt, parametrization)
    assert model.activation == "linear" and model.parametrization == parametrization
    length = int(spec.steps.max()) + 1
    t = np.arange(length) * spec.dt
    response = _impulse_response(model, length)
    closed = sum(
        c * np.exp(lam * t) for c, lam in zip(fit.coefficients, fit.eigenvalues, strict=True)
    )
    scale = np.abs(fit.coefficients).sum()
    assert np.allclose(response, closed, rtol=1e-9, atol=1e-12 * scale)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"parametrizations.eigenvalues.original", "readout.weight"}
    assert linear_rnn(fit, spec.dt, perturb_input_weights=True).input_kernel.weight.requires_grad


@pytest.mark.parametrize("target", ["exp", "pol"])
def test_unperturbed_error_is_the_least_squares_residual(target):
    spec = FIT_READINGS["polynomial"]
    functional = linear_target(target)
    loss = impulse_response_loss(functional, spec.dt, spec.steps, norm=spec.norm)
    for width in (2, 8):
        fit = fit_reading("polynomial", functional, width)
        curve = perturbation_error(linear_rnn(fit, spec.dt), loss, [0.0])
        rho = (0.9**spec.times) if target == "exp" else (spec.times + 1) ** -1.1
        residual = np.linalg.norm(fit.memory(spec.times) - rho)
        assert curve.errors[0] == pytest.approx(residual, rel=1e-9)


def test_polynomial_reading_against_the_published_unperturbed_errors():
    """The reproduction of Fig 1's E_m(0) (docs/instruments.md): within a factor 2.6."""
    spec = FIT_READINGS["polynomial"]
    for target, published in PAPER_UNPERTURBED_ERRORS.items():
        for width, paper in zip(PAPER_WIDTHS, published, strict=True):
            ours = fit_reading("polynomial", linear_target(target), width).meta["residual_l2"]
            assert 1 / 2.6 < ours / paper < 2.6, (target, width, ours, paper)
            assert spec.norm == "l2"


@pytest.mark.parametrize("parametrization", ["exp", "softplus"])
def test_stable_parametrizations_keep_eigenvalues_negative_under_perturbation(parametrization):
    fit = fit_reading("polynomial", linear_target("pol"), 6)
    model = linear_rnn(fit, 0.01, parametrization)
    raw = model.parametrizations.eigenvalues.original
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(20):
            raw.add_(30.0 * torch.randn(raw.shape, generator=generator, dtype=raw.dtype))
            assert bool((model.eigenvalues < 0).all())


def test_quadrature_fit():
    t = np.arange(1.0, 101.0)
    rho = (t + 1.0) ** -1.1
    errors, slowest = [], []
    for m in PAPER_WIDTHS:
        fit = fit_power_law_quadrature(m)
        assert np.all(fit.coefficients > 0)
        assert fit.coefficients.sum() == pytest.approx(1.0, rel=1e-10)  # rho(0) = 1
        assert np.all(fit.eigenvalues < 0)
        errors.append(np.max(np.abs(fit.memory(t) - rho)))
        slowest.append(-fit.eigenvalues.max())
    assert all(np.diff(errors) < 0) and all(np.diff(slowest) < 0)


def test_rescaling_example():
    m = 7
    example = rescaling_example(m)
    t = np.linspace(0, 30, 31)
    k = np.arange(1, m + 1)
    truncation = np.array([np.sum(np.exp(-s / k) / k**2) for s in t])
    assert np.allclose(example.rescaled_memory(t), truncation, rtol=1e-13)
    assert np.allclose(example.vanilla_memory(t), truncation, rtol=1e-13)
    assert example.truncation_error == pytest.approx(np.pi**2 / 6 - np.sum(1.0 / k**2))
    tail = rescaling_target(t, terms=200_000) - truncation
    assert np.all(tail >= 0) and tail.max() == pytest.approx(example.truncation_error, rel=1e-4)
    # a shift of w by 1.01/m turns a vanilla eigenvalue positive; rescaled survives 0.99
    assert np.max(example.vanilla_raw + 1.01 / m) > 0
    assert np.max((example.rescaled_raw + 0.99) / k) < 0
    assert example.vanilla_sign_radius == pytest.approx(1 / m)
    assert example.rescaled_sign_radius == 1.0


def test_bad_input():
    with pytest.raises(TypeError, match="width"):
        fit_reading("polynomial", linear_target("exp"), 0.5)
    with pytest.raises(ValueError, match="valid choices: polynomial"):
        fit_reading("chebyshev", linear_target("exp"), 3)
    with pytest.raises(ValueError, match="valid choices: exp, pol"):
        linear_target("cos")
    with pytest.raises(ValueError, match="at least 3"):
        fit_exponential_sum(linear_target("exp"), np.array([-1.0, -2.0, -3.0]), np.array([1.0]))
    fit = ExponentialSumFit(np.array([-1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="parametrization"):
        linear_rnn(fit, 0.1, "tanh")
    with pytest.raises(ValueError, match="dt"):
        linear_rnn(fit, 0.0)
    with pytest.raises(ValueError, match="only represents eigenvalues < 0"):
        linear_rnn(ExponentialSumFit(np.array([0.5]), np.array([1.0])), 0.1, "exp")
