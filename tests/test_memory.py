"""Memory functions against closed forms (paper eqs 6-7, 121-122, 128-129)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from curse_of_memory.analysis import MemoryFunction, memory_function
from curse_of_memory.targets.linear import LinearFunctional

KINDS = ("heaviside", "impulse", "reversed")


def _damped_cosine(t: np.ndarray) -> np.ndarray:
    return np.exp(-t) * np.cos(3 * t)  # changes sign: |rho| is non-monotone


def _three_kernels(t: np.ndarray) -> np.ndarray:
    return np.stack([np.exp(-t), -0.5 / (1 + t) ** 2, np.sin(2 * t) * np.exp(-0.3 * t)], axis=1)


class LinearRecurrence(torch.nn.Module):
    """h_k = A h_{k-1} + B x_k, y_k = C h_k + offset: M_k = max_c |(C A^k B)_c|_1 / dt."""

    def __init__(self, a, b, c, offset=0.0):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Parameter(torch.as_tensor(m)) for m in (a, b, c))
        self.offset = offset
        self.input_dim = self.b.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.a.shape[0])
        outputs = []
        for k in range(x.shape[1]):
            h = h @ self.a.T + x[:, k] @ self.b.T
            outputs.append(h @ self.c.T + self.offset)
        return torch.stack(outputs, dim=1)


def _recurrence_matrices(seed: int = 3):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a = q @ np.diag([0.9, -0.7, 0.5, 0.2]) @ q.T
    return a, rng.normal(size=(4, 3)), rng.normal(size=(2, 4))


def _recurrence_memory(a, b, c, length: int, dt: float) -> np.ndarray:
    """Float64 closed form max_c |C A^k B|_1 / dt, k = 0..length-1."""
    out, power = [], np.eye(a.shape[0])
    for _ in range(length):
        out.append(np.abs(c @ power @ b).sum(1).max() / dt)
        power = a @ power
    return np.array(out)


@pytest.mark.parametrize("kind", KINDS)
def test_linear_functional_gives_abs_rho(kind):
    length, dt = 120, 0.05
    lf = LinearFunctional(_damped_cosine)
    burn_in = 2000 if kind == "reversed" else None  # rho(burn_in dt) = e^{-100}
    mf = memory_function(lf, length, dt, kind=kind, burn_in=burn_in)
    t = np.arange(length) * dt
    np.testing.assert_allclose(mf.t, t, rtol=0, atol=1e-15)
    np.testing.assert_allclose(mf.values, np.abs(_damped_cosine(t)), rtol=0, atol=1e-10)
    assert mf.kind == kind and mf.normalization == "x" and mf.values.shape == (length,)


def test_reversed_finite_burn_in_closed_form():
    # y_{B+k} - y_{B+k-1} = dt (rho_{k+B} - rho_k) x for the discretised functional.
    length, dt, burn_in = 80, 0.05, 30
    lf = LinearFunctional(_damped_cosine)
    mf = memory_function(lf, length, dt, kind="reversed", burn_in=burn_in)
    t = np.arange(length) * dt
    expected = np.abs(_damped_cosine(t) - _damped_cosine(t + burn_in * dt))
    np.testing.assert_allclose(mf.values, expected, rtol=0, atol=1e-10)
    assert mf.burn_in == burn_in


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("max_enumerated_dim", [6, 0])  # all sign vectors / large-d path
def test_three_inputs_give_l1_norm(kind, max_enumerated_dim):
    length, dt = 60, 0.1
    lf = LinearFunctional(_three_kernels, input_dim=3)
    mf = memory_function(
        lf, length, dt, kind=kind, burn_in=3000, max_enumerated_dim=max_enumerated_dim
    )
    t = np.arange(length) * dt
    rho = _three_kernels(t)
    if kind == "reversed":  # finite burn-in: |rho(t) - rho(t + B dt)|_1 (slow 2nd column)
        expected = np.abs(rho - _three_kernels(t + 3000 * dt)).sum(1)
    else:
        expected = np.abs(rho).sum(1)
    np.testing.assert_allclose(mf.values, expected, rtol=0, atol=1e-10)
    # The maximiser is a sign vector aligned with rho (where no entry vanishes).
    aligned = np.abs((mf.maximizer_direction * rho).sum(1))
    np.testing.assert_allclose(aligned, np.abs(rho).sum(1), rtol=1e-4)


@pytest.mark.parametrize("kind", ["heaviside", "impulse"])
def test_linear_recurrence_with_two_outputs(kind):
    a, b, c = _recurrence_matrices()
    length, dt = 40, 0.5
    mf = memory_function(LinearRecurrence(a, b, c), length, dt, kind=kind)
    expected = _recurrence_memory(a, b, c, length, dt)
    np.testing.assert_allclose(mf.values, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(mf.linear_response, expected, rtol=1e-10, atol=1e-14)


def _bias_free_linearisation(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with tangent dh_k = A dh_{k-1} + B dx_k at x = 0 (biases off, h stays 0)."""
    w_ih = model.weight_ih_l0.detach().double().numpy()
    w_hh = model.weight_hh_l0.detach().double().numpy()
    if isinstance(model, torch.nn.RNN):  # h = tanh(W_ih x + W_hh h), tanh'(0) = 1
        return w_hh, w_ih
    m = w_hh.shape[1]  # GRU at 0: r = z = 1/2, h = (n + h)/2, n = tanh(W_in x + W_hn h / 2)
    return 0.5 * np.eye(m) + 0.25 * w_hh[2 * m :], 0.5 * w_ih[2 * m :]


@pytest.mark.parametrize("cls", [torch.nn.RNN, torch.nn.GRU])
@pytest.mark.parametrize("kind", ["heaviside", "impulse"])
def test_bias_free_torch_rnn_small_amplitude_limit(cls, kind):
    torch.manual_seed(4)
    model = cls(3, 8, bias=False, batch_first=True)
    a, b = _bias_free_linearisation(model)
    length, dt = 40, 0.5
    mf = memory_function(model, length, dt, kind=kind)
    expected = _recurrence_memory(a, b, np.eye(a.shape[0]), length, dt)
    np.testing.assert_allclose(mf.linear_response, expected, rtol=1e-9, atol=1e-15)
    assert np.all(mf.values >= mf.linear_response)  # the supremum includes this limit


def test_affine_model_has_the_memory_of_its_linear_part():
    a, b, c = _recurrence_matrices()
    linear = memory_function(LinearRecurrence(a, b, c), 30, 1.0)
    affine = memory_function(LinearRecurrence(a, b, c, offset=7.5), 30, 1.0)
    expected = _recurrence_memory(a, b, c, 30, 1.0)
    np.testing.assert_allclose(affine.values, expected, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(affine.values, linear.values, rtol=1e-10, atol=1e-13)


def test_linear_layer_with_bias_and_one_step_lag():
    # y_k = W0 x_k + W1 x_{k-1} + bias: Heaviside differences are W0 x, W1 x, 0, 0, ...
    torch.manual_seed(0)
    now, lag = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)

    class Lagged(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.now, self.lag = now, lag

        def forward(self, x):
            shifted = torch.nn.functional.pad(x, (0, 0, 1, 0))[:, :-1]
            return self.now(x) + self.lag(shifted)

    dt = 0.25
    mf = memory_function(Lagged(), 6, dt)
    assert mf.input_dim == 2  # inferred from the first nn.Linear
    w0 = now.weight.detach().double().numpy()
    w1 = lag.weight.detach().double().numpy()
    expected = np.array([np.abs(w0).sum(1).max(), np.abs(w1).sum(1).max(), 0, 0, 0, 0]) / dt
    np.testing.assert_allclose(mf.values, expected, rtol=1e-12, atol=1e-14)


def test_x_plus_one_normalization_on_linear_map():
    # At amplitude s a linear map gives s |rho|_1 / (s + 1), increasing in s: the
    # supremum over 0 < s <= X is |rho|_1 X / (X + 1), attained at s = X; unbounded,
    # it is |rho|_1, approached as s -> infinity (the search stops within tolerance).
    length, dt = 50, 0.1
    lf = LinearFunctional(_three_kernels, input_dim=3)
    rho_l1 = np.abs(_three_kernels(np.arange(length) * dt)).sum(1)
    for bound in (1.0, 4.0):
        mf = memory_function(lf, length, dt, normalization="x+1", input_bound=bound)
        np.testing.assert_allclose(mf.values, rho_l1 * bound / (bound + 1), rtol=1e-9)
        np.testing.assert_allclose(mf.maximizer_scale, bound)
    free = memory_function(lf, length, dt, normalization="x+1", input_bound=math.inf)
    assert free.converged and free.tolerance == 1e-3
    assert np.all(free.values <= rho_l1 * (1 + 1e-12))
    assert np.all(free.values >= rho_l1 * (1 - 1e-3))


def test_saturating_model_attains_the_small_amplitude_limit():
    # y = tanh(L x) with |tanh a - tanh b| <= |a - b|: the supremum is the s -> 0 limit
    # |rho|, which forward-mode differentiation gives exactly.
    lf = LinearFunctional(lambda t: np.exp(-0.5 * t))
    mf = memory_function(lambda x: torch.tanh(lf(x, 0.1)), 50, 0.1, input_dim=1)
    np.testing.assert_allclose(mf.values, np.exp(-0.5 * mf.t), rtol=1e-9)
    assert np.all(mf.maximizer_scale == 0.0)
    assert mf.meta["linear_response_method"] == "forward-ad"


@pytest.mark.parametrize("bound", [1.0, 2.5])
def test_cubic_model_supremum_is_at_the_bound(bound):
    # y = z + z^3, z_k = s Z_k with Z_k = dt sum_{j<=k} rho_j (Heaviside, d = 1, Z
    # increasing): the ratio s^-1 |y_k - y_{k-1}| / dt grows with s, so the supremum
    # over 0 < s <= X is its value at s = X.
    dt, length = 0.2, 40
    lf = LinearFunctional(lambda t: np.exp(-t))
    rho = np.exp(-np.arange(length) * dt)
    big_z = dt * np.cumsum(rho)
    prev = np.concatenate([[0.0], big_z[:-1]])
    expected = (bound * (big_z - prev) + bound**3 * (big_z**3 - prev**3)) / (dt * bound)
    mf = memory_function(
        lambda x: lf(x, dt) + lf(x, dt) ** 3, length, dt, input_dim=1, input_bound=bound
    )
    np.testing.assert_allclose(mf.values, expected, rtol=1e-10)
    np.testing.assert_allclose(mf.maximizer_scale, bound)
    assert mf.input_bound == bound and mf.converged


def test_unbounded_supremum_that_keeps_growing_is_flagged():
    # The cubic map's ratio grows without bound: the unrestricted supremum is infinite.
    dt = 0.2
    lf = LinearFunctional(lambda t: np.exp(-t))
    with pytest.warns(RuntimeWarning, match="still grows"):
        mf = memory_function(
            lambda x: lf(x, dt) + lf(x, dt) ** 3, 10, dt, input_dim=1, input_bound=math.inf
        )
    assert not mf.converged and "not converged" in mf.describe()


def test_starting_grid_only_is_not_converged():
    mf = memory_function(LinearFunctional(np.exp), 5, 0.1, max_refinements=0, scales=(0.5, 1.0))
    assert not mf.converged
    assert mf.meta["initial_amplitudes"] == [0.5, 1.0]


def test_float32_evaluation_and_batch_first_false_rnn():
    torch.manual_seed(1)
    rnn = torch.nn.RNN(2, 8, batch_first=False)
    twin = torch.nn.RNN(2, 8, batch_first=True)
    twin.load_state_dict(rnn.state_dict())
    a = memory_function(rnn, 30, 1.0)
    b = memory_function(twin, 30, 1.0)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-15)
    c = memory_function(twin, 30, 1.0, dtype=torch.float32)
    np.testing.assert_allclose(c.values[:10], b.values[:10], rtol=1e-3)
    assert rnn.weight_hh_l0.dtype == torch.float32  # the caller's model is untouched


@pytest.mark.parametrize("bound", [1.0, 0.25, math.inf])
def test_to_dict_round_trip(bound):
    mf = memory_function(LinearFunctional(np.exp), 5, 0.1, kind="impulse", input_bound=bound)
    data = mf.to_dict()
    json.dumps(data, allow_nan=False)  # plain JSON: an unbounded sup is written as null
    back = MemoryFunction.from_dict(data)
    np.testing.assert_array_equal(back.values, mf.values)
    assert back.kind == "impulse" and back.dt == 0.1
    assert back.input_bound == bound and back.tolerance == mf.tolerance
    assert back.describe() == mf.describe()


def test_describe_states_the_bound_and_normalization():
    lf = LinearFunctional(np.exp)
    assert memory_function(lf, 5, 0.1).describe() == (
        "Heaviside inputs, sup over 0 < |x|_inf <= 1, normalised by |x|_inf"
    )
    free = memory_function(lf, 5, 0.1, input_bound=math.inf, normalization="x+1")
    assert free.describe() == "Heaviside inputs, sup over 0 < |x|_inf, normalised by |x|_inf + 1"


@pytest.mark.parametrize(
    "model",
    [
        torch.nn.GRU(1, 4, batch_first=True, bidirectional=True),
        lambda x: x.flip(1),  # time reversal
        lambda x: torch.roll(x, -1, dims=1),  # one step of look-ahead
    ],
    ids=["bidirectional", "reversed-time", "look-ahead"],
)
def test_non_causal_model_raises(model):
    with pytest.raises(ValueError, match="not causal"):
        memory_function(model, 20, 1.0, input_dim=1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"length": 1}, ValueError, "length must be >= 2"),
        ({"length": 0}, ValueError, "length"),
        ({"length": 2.5}, TypeError, "length"),
        ({"dt": 0.0}, ValueError, "dt"),
        ({"dt": math.nan}, ValueError, "dt"),
        ({"kind": "step"}, ValueError, "valid choices: heaviside, impulse, reversed"),
        ({"normalization": "x+2"}, ValueError, "normalization"),
        ({"scales": ()}, ValueError, "scales"),
        ({"scales": (1.0, -1.0)}, ValueError, "scales"),
        ({"scales": (0.5, 2.0)}, ValueError, r"scales must lie in \(0, input_bound=1\]"),
        ({"input_bound": 0.0}, ValueError, "input_bound"),
        ({"input_bound": -1.0}, ValueError, "input_bound"),
        ({"input_bound": math.nan}, ValueError, "input_bound"),
        ({"input_bound": "big"}, TypeError, "input_bound"),
        ({"tolerance": 0.0}, ValueError, "tolerance"),
        ({"tolerance": 0.5}, ValueError, r"tolerance must be in \(0, 0.1\]"),
        ({"max_refinements": -1}, ValueError, "max_refinements"),
        ({"n_starts": 0}, ValueError, "n_starts"),
        ({"burn_in": 0}, ValueError, "burn_in"),
        ({"dtype": torch.float16}, ValueError, "dtype"),
        ({"input_dim": 2}, ValueError, "input_dim=2"),
        ({"model": "not a model"}, TypeError, "callable"),
        ({"model": lambda x: x}, ValueError, "input_dim could not be inferred"),
        ({"model": lambda x: x[:, :-1], "input_dim": 1}, ValueError, "output must have shape"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    args = {"model": LinearFunctional(np.exp), "length": 10, "dt": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        memory_function(**args)


def test_probe_batches_do_not_change_the_result():
    torch.manual_seed(2)
    gru = torch.nn.GRU(2, 6, batch_first=True)
    whole = memory_function(gru, 25, 1.0)
    chunked = memory_function(gru, 25, 1.0, max_batch=7, progress=False)
    np.testing.assert_array_equal(whole.values, chunked.values)
    np.testing.assert_array_equal(whole.maximizer_scale, chunked.maximizer_scale)


def test_linear_continuous_rnn_memory_is_its_discrete_exponential_sum():
    # Linear diagonal ContinuousRNN with an input bias: after subtracting the zero-input
    # response, Heaviside increments are (y_k - y_{k-1}) / dt = c^T (I + dt W)^k U x, so
    # M_k = |c^T (I + dt W)^k U| (d = 1). Also checks that the linear response goes
    # through forward-mode AD even when a fused kernel is installed.
    from curse_of_memory.models import ContinuousRNN

    torch.manual_seed(3)
    dt = 0.5
    model = ContinuousRNN(6, activation="linear", parametrization="softplus", dt=dt).double()
    with torch.no_grad():
        lam = model.eigenvalues.numpy().copy()
        u = model.input_kernel.weight[:, 0].numpy().copy()
        c = model.readout.weight[0].numpy().copy()
    k = np.arange(80)
    expected = np.abs(((1 + dt * lam)[None, :] ** k[:, None]) @ (u * c))
    memory = memory_function(model, 80, dt)
    np.testing.assert_allclose(memory.values, expected, rtol=1e-9, atol=1e-14)
    assert memory.meta["linear_response_method"] == "forward-ad"
