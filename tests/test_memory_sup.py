"""The supremum over bounded inputs, against closed forms and brute force.

The width-1 ContinuousRNN of ``analysis.memory.known`` has the exact discrete memory
M_k = |c| sup_{0<x<=X} |sigma(a_k(x))| / x, a_0 = u x, a_{k+1} = a_k + w dt sigma(a_k),
which a numpy loop over thousands of amplitudes gives independently of the search.
In continuous time (tanh) sinh(a(t)) = sinh(u x) e^{w t}, so with z = sinh(u x) e^{w t}
M(t) = |c| sup_x z / (x sqrt(1 + z^2)); unbounded, M(t) ~ |c u| / (|w| t).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curse_of_memory import ContinuousRNN, LinearFunctional, fit_decay, memory_function
from curse_of_memory._validation import MEMORY_LIMIT_VARIABLE, MemoryBudgetError
from curse_of_memory.analysis.memory.known import C, U, W, brute_force_memory, width_one_rnn


def _continuous_sup(t: np.ndarray, bound: float) -> np.ndarray:
    """|c| sup_x z / (x sqrt(1 + z^2)), z = sinh(u x) e^{w t}, over 200,001 amplitudes."""
    xs = np.geomspace(1e-6, 1e3 if math.isinf(bound) else bound, 200_001)
    log_sinh = U * xs + np.log1p(-np.exp(-2 * U * xs)) - math.log(2.0)  # log sinh(u x)
    log_z = log_sinh[None, :] + W * t[:, None]
    ratio = 1.0 / np.sqrt(1.0 + np.exp(-2.0 * log_z))  # z / sqrt(1 + z^2)
    return abs(C) * (ratio / xs).max(1)


@pytest.mark.parametrize("activation", ["tanh", "hardtanh"])
@pytest.mark.parametrize("bound", [0.1, 1.0, 3.0, math.inf])
def test_width_one_rnn_matches_brute_force(activation, bound):
    dt, length = 0.05, 401  # t up to 20
    memory = memory_function(width_one_rnn(activation, dt), length, dt, input_bound=bound)
    oracle, oracle_x = brute_force_memory(activation, bound, length, dt)
    # Where M has decayed below 1e-9 of its peak, the Heaviside difference is at the
    # float64 rounding floor (module docstring of memory_function): compare above it.
    above = oracle > 1e-9 * oracle.max()
    np.testing.assert_allclose(memory.values[above], oracle[above], rtol=1e-2)
    assert memory.converged and memory.input_bound == bound
    assert np.all(memory.maximizer_scale <= bound)
    interior = above & (memory.maximizer_scale > 0) & (oracle_x < 0.9 * min(bound, 1e3))
    if activation == "tanh" and interior.any():  # smooth maximum: same maximiser
        np.testing.assert_allclose(memory.maximizer_scale[interior], oracle_x[interior], rtol=0.05)


@pytest.fixture(scope="module")
def unbounded_tanh_memory():
    """Unrestricted-sup memory of the width-1 tanh model, dt = 0.05, t up to 60."""
    return memory_function(width_one_rnn("tanh", 0.05), 1201, 0.05, input_bound=math.inf)


def test_unbounded_sup_at_t60(unbounded_tanh_memory):
    # The unrestricted sup at t = 60 is 0.0911 (a grid 1e-2..1e3 without refinement
    # finds 0.015 there).
    oracle, _ = brute_force_memory("tanh", math.inf, 1201, 0.05)
    assert unbounded_tanh_memory.values[-1] == pytest.approx(oracle[-1], rel=1e-3)
    assert unbounded_tanh_memory.values[-1] == pytest.approx(0.0911, abs=5e-4)


def test_unbounded_tanh_memory_decays_like_one_over_t(unbounded_tanh_memory):
    # |c u| / (|w| t) is the leading term; t M(t) |w| / |c u| rises towards 1.
    t = unbounded_tanh_memory.t[200::100]  # t = 10..60
    scaled = unbounded_tanh_memory.values[200::100] * abs(W) * t / abs(C * U)
    assert np.all(np.diff(scaled) > 0)
    assert 0.85 < scaled[-1] < 1.0


def test_unbounded_tanh_memory_is_polynomial_with_exponent_near_one(unbounded_tanh_memory):
    # The local exponent |w| t / (|w| t + ln 2 + ln(|w| t) / 2) tends to 1 slowly.
    fit = fit_decay(unbounded_tanh_memory)
    assert fit.law == "polynomial", fit.summary()
    assert 0.9 < fit.exponent < 1.0


def test_bounded_tanh_memory_decays_at_the_linear_rate():
    # With |x| <= 1 the unit leaves saturation: M_k -> |c| sinh-like prefactor
    # (1 + w dt)^k, the discrete rate of the linearisation.
    dt = 0.05
    bounded = memory_function(width_one_rnn("tanh", dt), 401, dt)
    rate = -np.log(bounded.values[400] / bounded.values[200]) / 10.0
    assert rate == pytest.approx(-math.log1p(W * dt) / dt, rel=1e-3)
    fit = fit_decay(bounded)
    assert fit.law == "exponential" and fit.rate == pytest.approx(rate, rel=1e-3)


@pytest.mark.parametrize("bound", [1.0, math.inf])
def test_width_one_tanh_matches_continuous_closed_form(bound):
    # Forward Euler at dt = 0.01 is within about w^2 dt t / 2 (relative) of the ODE.
    dt, length = 0.01, 501  # t up to 5
    memory = memory_function(width_one_rnn("tanh", dt), length, dt, input_bound=bound)
    k = np.arange(0, length, 25)
    expected = _continuous_sup(memory.t[k], bound)
    tolerance = W**2 * dt * memory.t[k] / 2 + 2e-3
    assert np.all(np.abs(memory.values[k] / expected - 1) <= tolerance)


@pytest.mark.parametrize("bound", [0.01, 1.0, math.inf])
def test_linear_functional_is_exact_l1_norm_for_any_d(bound):
    # d = 8 > max_enumerated_dim: the small-amplitude limit max_c |rho|_1 is exact,
    # whatever the bound.
    rng = np.random.default_rng(0)
    signs, rates = rng.choice([-1.0, 1.0], size=8), rng.uniform(0.1, 2.0, size=8)

    def rho(t):
        return signs * np.exp(-np.multiply.outer(t, rates))

    length, dt = 80, 0.1
    memory = memory_function(LinearFunctional(rho, input_dim=8), length, dt, input_bound=bound)
    expected = np.abs(rho(np.arange(length) * dt)).sum(1)
    np.testing.assert_allclose(memory.values, expected, rtol=1e-10)
    np.testing.assert_allclose(memory.maximizer_direction, np.sign(rho(memory.t)))


def _square_directions(n: int) -> np.ndarray:
    """``(n, 2)`` points spread around the boundary of the square |v|_inf = 1."""
    s = np.linspace(0.0, 8.0, n, endpoint=False)
    side, f = np.minimum(s // 2, 3).astype(int), (s % 2) - 1.0
    corners = [(np.ones_like(f), f), (-f, np.ones_like(f)), (-np.ones_like(f), -f),
               (f, -np.ones_like(f))]  # fmt: skip
    out = np.empty((n, 2))
    for k, (a, b) in enumerate(corners):
        out[side == k] = np.stack([a, b], 1)[side == k]
    return out


@pytest.mark.slow
def test_two_input_rnn_matches_brute_force_over_directions():
    # A dense tanh RNN with a bias and two inputs has several local maxima in the
    # direction of x (at t ~ 14 the winning one changes from (1, 1) to (-1, 0.1));
    # brute force over 1,200 directions x 200 amplitudes.
    torch.manual_seed(5)
    dt, length, bound = 0.1, 150, 5.0
    model = ContinuousRNN(
        4, input_size=2, activation="tanh", parametrization="direct", structure="dense", dt=dt
    ).double()
    with torch.no_grad():
        model.input_kernel.weight.mul_(3.0)
    params = {k: v.detach().numpy() for k, v in model.effective_parameters().items()}
    w, u, b, c = params["W"], params["U"], params["b"], params["c"][0]
    oracle = np.zeros(length)
    directions = _square_directions(1200)
    for s in bound * np.geomspace(1e-4, 1.0, 200):
        x = s * directions  # (n, 2)
        h, h0 = np.zeros((x.shape[0], 4)), np.zeros(4)
        for k in range(length):
            g, g0 = np.tanh(h @ w.T + x @ u.T + b), np.tanh(h0 @ w.T + b)
            oracle[k] = max(oracle[k], (np.abs((g - g0) @ c) / s).max())
            h, h0 = h + dt * g, h0 + dt * g0
    memory = memory_function(model, length, dt, input_bound=bound)
    assert np.all(memory.values >= oracle * (1 - 1e-2))
    assert np.all(memory.values <= oracle * (1 + 1e-2))


def test_length_beyond_the_memory_budget_is_refused_before_allocating(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    called = []

    def model(x):
        called.append(x.shape)
        return x

    with pytest.raises(MemoryBudgetError, match=r"memory_function\(length=1000000000.*limit"):
        memory_function(model, 10**9, 1.0, input_dim=1)
    assert not called


def test_probe_batches_shrink_to_fit_the_budget(monkeypatch):
    # 40 MB allow ~ 400 sequences of 1,000 float64 steps: the answer is unchanged.
    lf = LinearFunctional(lambda t: np.exp(-t))
    expected = memory_function(lf, 1000, 0.01).values
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(40 * 2**20))
    np.testing.assert_array_equal(memory_function(lf, 1000, 0.01).values, expected)
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(10 * 2**10))
    with pytest.raises(MemoryBudgetError, match="limit of 10.0 KiB"):
        memory_function(lf, 1000, 0.01)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (lambda x: x * math.nan, "zero input contains NaN or inf"),
        (lambda x: torch.sqrt(x), "NaN or inf for a standard normal input"),
    ],
    ids=["always-nan", "nan-for-negative-inputs"],
)
def test_model_with_nan_output_gets_a_clear_error(model, match):
    with pytest.raises(ValueError, match=match):
        memory_function(model, 20, 1.0, input_dim=1)
