"""Linear theory (SPEC 7.1, Appendix C/D): fits, perturbations, reparametrizations."""

from __future__ import annotations

import numpy as np
import pytest

from curse_of_memory.analysis.linear_theory import (
    EIGEN_PARAMETRIZATIONS,
    PAPER_BETAS,
    PAPER_GRID,
    ExponentialSum,
    fit_exponential_sum,
    fit_power_law_quadrature,
    perturbation_curve,
    rescaling_example,
    rescaling_target,
)

WIDTHS = (2, 4, 6, 8, 14)
A = -np.log(0.9)


def _loop_memory(c, lam, u, t):
    """float64 reference: sum_k c_k u_k exp(lam_k t), one time at a time."""
    return np.array([sum(c[k] * u[k] * np.exp(lam[k] * s) for k in range(len(c))) for s in t])


def test_paper_constants():
    assert PAPER_BETAS.size == 22 and PAPER_BETAS[0] == 0
    assert PAPER_BETAS[-1] == pytest.approx(524.288)
    assert np.array_equal(PAPER_GRID, np.arange(1, 101))


@pytest.mark.parametrize("width", WIDTHS)
def test_least_squares_reproduces_exponential_memory(width):
    model = fit_exponential_sum("exp", width)
    rho = 0.9**PAPER_GRID
    assert np.max(np.abs(model.memory(PAPER_GRID) - rho)) < 1e-10
    # 0.9^t = s^1: the exact coefficients are e_1 (up to the conditioning)
    expected = np.zeros(width)
    expected[0] = 1.0
    assert np.allclose(model.coefficients, expected, atol=1e-4)
    assert np.allclose(model.eigenvalues, -A * np.arange(1, width + 1))
    assert model.meta["cond_scaled"] <= model.meta["cond_raw"] * (1 + 1e-12)


def test_pol_fit_error_decreases_and_conditioning_grows():
    rho = (PAPER_GRID + 1.0) ** -1.1
    models = [fit_exponential_sum("pol", m) for m in WIDTHS]
    errors = [np.max(np.abs(m.memory(PAPER_GRID) - rho)) for m in models]
    assert all(np.diff(errors) < 0), errors
    conds = [m.meta["cond_raw"] for m in models]
    assert all(np.diff(conds) > 0) and conds[-1] > 1e9
    # coefficients blow up: the mechanism of Fig 1(b)
    assert np.abs(models[-1].coefficients).max() > 1e6


def test_memory_matches_loop():
    rng = np.random.default_rng(1)
    c, lam, u = rng.normal(size=5), -rng.uniform(0.1, 2, 5), rng.normal(size=5)
    model = ExponentialSum(c, lam, u, "direct")
    t = np.linspace(0, 7, 13)
    assert np.allclose(model.memory(t), _loop_memory(c, lam, u, t), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ["exp", "softplus"])
def test_reparametrization_keeps_function(name):
    model = fit_exponential_sum("pol", 6)
    other = model.reparametrized(name)
    assert np.allclose(other.eigenvalues, model.eigenvalues, rtol=1e-12)
    if name == "exp":  # lambda = -e^w  =>  w = log(a k)
        assert np.allclose(other.raw_weights, np.log(A * np.arange(1, 7)))
    assert np.allclose(other.memory(PAPER_GRID), model.memory(PAPER_GRID), rtol=1e-10)


def test_beta_zero_is_unperturbed_error():
    model = fit_exponential_sum("pol", 8)
    rho = (PAPER_GRID + 1.0) ** -1.1
    curve = perturbation_curve(model, "pol", samples=4)
    unperturbed = np.max(np.abs(model.memory(PAPER_GRID) - rho))
    assert np.allclose(curve.sample_errors[0], unperturbed, rtol=1e-12)
    assert curve.errors[0] == pytest.approx(unperturbed, rel=1e-12)
    l1 = perturbation_curve(model, "pol", samples=2, error="l1")
    assert l1.errors[0] == pytest.approx(np.sum(np.abs(model.memory(PAPER_GRID) - rho)))


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_readout_noise_has_size_beta(norm):
    # one term c = 1, lambda = ln 0.9: perturbing c alone gives rho_hat - rho = dc * 0.9^t,
    # so the sup error is exactly 0.9 |dc| = 0.9 beta (a 1-vector has |dc|_inf = |dc|_2).
    model = ExponentialSum(np.ones(1), np.array([-A]), np.ones(1), "direct")
    betas = np.array([0.0, 0.01, 0.5, 3.0])
    curve = perturbation_curve(model, "exp", betas=betas, samples=6, norm=norm, perturb=("c",))
    assert np.allclose(curve.sample_errors, 0.9 * betas[:, None], rtol=1e-12, atol=1e-15)


def test_running_max_is_non_decreasing():
    curve = perturbation_curve(fit_exponential_sum("pol", 6), "pol", samples=3)
    assert np.all(np.diff(curve.errors) >= 0)
    assert np.array_equal(curve.errors, np.maximum.accumulate(curve.sample_errors.max(axis=1)))
    assert curve.width == 6 and curve.sample_errors.shape == (22, 3)


@pytest.mark.parametrize("name", ["exp", "softplus"])
def test_reparametrized_eigenvalues_stay_negative(name):
    f = EIGEN_PARAMETRIZATIONS[name][0]
    w = np.random.default_rng(0).normal(scale=500.0, size=1000)
    assert np.all(f(w) <= 0)
    # consequence: with w perturbed by up to 500, |rho_hat(t)| <= sum |c_k U_k| for t >= 0
    model = fit_power_law_quadrature(8, parametrization=name)
    bound = 1.0 + np.sum(np.abs(model.coefficients))  # sup rho = 2^-1.1 < 1
    curve = perturbation_curve(model, "pol", betas=[0.0, 500.0], samples=10, perturb=("w",))
    assert curve.errors[-1] <= bound
    direct = perturbation_curve(
        model.reparametrized("direct"), "pol", betas=[0.0, 500.0], samples=10, perturb=("w",)
    )
    assert direct.errors[-1] > 1e100  # direct eigenvalues cross 0 and explode


def test_quadrature_fit():
    rho = (PAPER_GRID + 1.0) ** -1.1
    errors, slowest = [], []
    for m in WIDTHS:
        model = fit_power_law_quadrature(m)
        assert np.all(model.coefficients > 0)
        assert model.coefficients.sum() == pytest.approx(1.0, rel=1e-10)  # rho(0) = 1
        assert np.all(model.eigenvalues < 0)
        errors.append(np.max(np.abs(model.memory(PAPER_GRID) - rho)))
        slowest.append(-model.eigenvalues.max())
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
        fit_exponential_sum("exp", 0.5)
    with pytest.raises(ValueError, match="width"):
        fit_exponential_sum("exp", 0)
    with pytest.raises(ValueError, match="valid choices: exp, pol"):
        fit_exponential_sum("cos", 3)
    with pytest.raises(ValueError, match="parametrization"):
        fit_power_law_quadrature(3, parametrization="tanh")
    with pytest.raises(ValueError, match="decay_rate"):
        fit_exponential_sum("exp", 3, decay_rate=-1.0)
    model = fit_exponential_sum("exp", 3)
    with pytest.raises(ValueError, match="ascending"):
        perturbation_curve(model, "exp", betas=[0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="norm"):
        perturbation_curve(model, "exp", norm="fro")
    with pytest.raises(ValueError, match="perturb"):
        perturbation_curve(model, "exp", perturb=("b",))
    with pytest.raises(ValueError, match="negative eigenvalues"):
        ExponentialSum(np.ones(1), np.array([0.5]), np.ones(1)).reparametrized("exp")
