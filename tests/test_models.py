"""Tests of the RNN hypothesis spaces (models/): independent float64 references and closed forms."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from curse_of_memory.models import (
    PARAMETRIZATIONS,
    STABLE_PARAMETRIZATIONS,
    ContinuousGRU,
    ContinuousLSTM,
    ContinuousRNN,
    build_model,
    make_parametrization,
)

# --------------------------------------------------------------------------- numpy references


def _np_activation(name: str, z: np.ndarray) -> np.ndarray:
    return {
        "linear": z,
        "tanh": np.tanh(z),
        "hardtanh": np.clip(z, -1.0, 1.0),
        "relu": np.maximum(z, 0.0),
    }[name]


def _np_eigenvalues(name: str, w: np.ndarray, a: float = 1.0, b: float = 0.1) -> np.ndarray:
    """The maps lambda = f(w) (paper eq 18), written out independently (moderate |w| only)."""
    return {
        "direct": lambda: w,
        "relu": lambda: -np.maximum(w, 0.0),
        "exp": lambda: -np.exp(w),
        "softplus": lambda: -np.log1p(np.exp(w)),
        "inverse": lambda: -1.0 / (a * w**2 + b),
    }[name]()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _np_recurrent_matrix(model: ContinuousRNN) -> np.ndarray:
    """W rebuilt in numpy from the raw weights (and the orthogonal basis for 'symmetric')."""
    if model.structure == "dense":
        return _np(model.recurrent_weight)
    lam = _np_eigenvalues(
        model.parametrization, _np(model.raw_recurrent_weight), model.inverse_a, model.inverse_b
    )
    if model.structure == "diagonal":
        return np.diag(lam)
    q = _np(model.basis)
    np.testing.assert_allclose(q.T @ q, np.eye(len(lam)), atol=1e-12)
    return q @ np.diag(lam) @ q.T


def _np_rnn_outputs(model: ContinuousRNN, x: np.ndarray) -> np.ndarray:
    """h_{k+1} = h_k + dt sigma(W h_k + U x_k + b), y_k = c^T h_{k+1} + d (paper eq 3, Euler)."""
    w_mat = _np_recurrent_matrix(model)
    u = _np(model.input_kernel.weight)
    b = _np(model.input_kernel.bias) if model.bias else np.zeros(model.hidden_size)
    c = _np(model.readout.weight)
    d = _np(model.readout.bias) if model.readout_bias else np.zeros(model.output_size)
    batch, length, _ = x.shape
    out = np.zeros((batch, length, model.output_size))
    for n in range(batch):
        h = np.zeros(model.hidden_size)
        for k in range(length):
            h = h + model.dt * _np_activation(model.activation, w_mat @ h + u @ x[n, k] + b)
            out[n, k] = c @ h + d
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _np_gru_states(model: ContinuousGRU, x: np.ndarray) -> np.ndarray:
    """paper eqs 131-136 (paper gates), Euler step dt; reset_after switches eq 133's form."""
    m = model.hidden_size
    w_ih, w_hh = _np(model.weight_ih), _np(model.weight_hh)
    b_ih, b_hh = _np(model.bias_ih), _np(model.bias_hh)
    w_r, w_z, w_h = w_ih[:m], w_ih[m : 2 * m], w_ih[2 * m :]
    u_r, u_z, u_h = w_hh[:m], w_hh[m : 2 * m], w_hh[2 * m :]
    b_r = b_ih[:m] + b_hh[:m]
    b_z = b_ih[m : 2 * m] + b_hh[m : 2 * m]
    batch, length, _ = x.shape
    states = np.zeros((batch, length, m))
    for n in range(batch):
        h = np.zeros(m)
        for k in range(length):
            xk = x[n, k]
            z = _sigmoid(w_z @ xk + u_z @ h + b_z)  # eq 131
            r = _sigmoid(w_r @ xk + u_r @ h + b_r)  # eq 132
            if model.reset_after:
                h_hat = np.tanh(w_h @ xk + b_ih[2 * m :] + r * (u_h @ h + b_hh[2 * m :]))
            else:
                h_hat = np.tanh(w_h @ xk + u_h @ (r * h) + b_ih[2 * m :] + b_hh[2 * m :])
            h = h + model.dt * z * (h_hat - h)  # eq 135/136
            states[n, k] = h
    return states


def _np_lstm_states(model: ContinuousLSTM, x: np.ndarray) -> np.ndarray:
    """dc/dt = (f-1)c + i g, dh/dt = o tanh(c) - h, c stepped first (module docstring)."""
    m = model.hidden_size
    w_ih, w_hh = _np(model.weight_ih), _np(model.weight_hh)
    bias = _np(model.bias_ih) + _np(model.bias_hh)
    batch, length, _ = x.shape
    states = np.zeros((batch, length, m))
    for n in range(batch):
        h, c = np.zeros(m), np.zeros(m)
        for k in range(length):
            pre = w_ih @ x[n, k] + w_hh @ h + bias
            i, f, g, o = (pre[j * m : (j + 1) * m] for j in range(4))
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c = c + model.dt * ((f - 1.0) * c + i * g)
            h = h + model.dt * (o * np.tanh(c) - h)
            states[n, k] = h
    return states


def _rnn(seed: int = 0, **kwargs) -> ContinuousRNN:
    torch.manual_seed(seed)
    return ContinuousRNN(**kwargs).double()


def _perturb_all_parameters(model: torch.nn.Module, scale: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            parameter.add_(scale * noise)


# --------------------------------------------------------------------------- ContinuousRNN forward

STRUCTURE_CASES = [
    ("diagonal", "softplus"),
    ("diagonal", "inverse"),
    ("diagonal", "relu"),
    ("symmetric", "exp"),
    ("symmetric", "direct"),
    ("dense", "direct"),
]


@pytest.mark.parametrize("activation", ["linear", "tanh", "hardtanh", "relu"])
@pytest.mark.parametrize(("structure", "parametrization"), STRUCTURE_CASES)
def test_rnn_matches_numpy_euler_loop(activation, structure, parametrization):
    model = _rnn(
        hidden_size=5,
        input_size=3,
        output_size=2,
        activation=activation,
        structure=structure,
        parametrization=parametrization,
        dt=0.3,
        readout_bias=True,
    )
    _perturb_all_parameters(model, 0.3, seed=1)  # move off the init so every term matters
    x = 2.0 * np.random.default_rng(0).standard_normal((3, 12, 3))  # saturates hardtanh at times
    expected = _np_rnn_outputs(model, x)
    got = model(torch.from_numpy(x))
    assert got.shape == (3, 12, 2)
    np.testing.assert_allclose(_np(got), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_rnn_backends_agree_with_numpy(backend):
    model = _rnn(hidden_size=4, activation="tanh", backend=backend, dt=0.5)
    x = np.random.default_rng(1).standard_normal((2, 9, 1))
    np.testing.assert_allclose(
        _np(model(torch.from_numpy(x))), _np_rnn_outputs(model, x), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("structure", ["diagonal", "symmetric", "dense"])
def test_linear_step_response_closed_form(structure):
    """Heaviside input, sigma = id, b = 0: y_k - y_{k-1} = dt c^T (I + dt W)^k U x."""
    parametrization = "direct" if structure == "dense" else "exp"
    dt, length = 0.7, 30
    model = _rnn(
        hidden_size=4,
        input_size=2,
        activation="linear",
        structure=structure,
        parametrization=parametrization,
        dt=dt,
        bias=False,
    )
    x = np.array([0.8, -1.3])
    y = _np(model(torch.from_numpy(np.tile(x, (1, length, 1)))))[0, :, 0]
    increments = np.diff(np.concatenate([[0.0], y]))  # y_{-1} = 0
    w_mat = _np_recurrent_matrix(model)
    step = np.eye(4) + dt * w_mat
    u, c = _np(model.input_kernel.weight), _np(model.readout.weight)[0]
    expected = [dt * c @ np.linalg.matrix_power(step, k) @ u @ x for k in range(length)]
    np.testing.assert_allclose(increments, expected, rtol=1e-10, atol=1e-13)


def test_linear_step_response_tends_to_continuous_exponential():
    """For small dt, (y_k - y_{k-1}) / dt -> c^T e^{W t_k} U x (paper eq 6, linear case)."""
    dt, length = 1e-3, 1000
    model = _rnn(hidden_size=3, activation="linear", structure="symmetric", dt=dt, bias=False)
    y = _np(model(torch.ones(1, length, 1, dtype=torch.float64)))[0, :, 0]
    rate = np.diff(np.concatenate([[0.0], y])) / dt
    w_mat = _np_recurrent_matrix(model)
    u, c = _np(model.input_kernel.weight)[:, 0], _np(model.readout.weight)[0]
    times = dt * np.arange(length)
    continuous = np.array([c @ scipy.linalg.expm(w_mat * t) @ u for t in times[::50]])
    rate = rate[::50]
    scale = np.abs(c) @ np.abs(u)
    assert np.max(np.abs(rate - continuous)) < 2 * dt * scale


# --------------------------------------------------------------------------- parametrizations


def test_parametrization_registry():
    assert set(PARAMETRIZATIONS) == {"direct", "relu", "exp", "softplus", "inverse"}
    assert set(STABLE_PARAMETRIZATIONS) == {"exp", "softplus", "inverse"}


@pytest.mark.parametrize("name", sorted(PARAMETRIZATIONS))
def test_parametrization_formulas_and_right_inverse(name):
    param = make_parametrization(name, inverse_a=2.0, inverse_b=0.3)
    w = torch.linspace(-4.0, 4.0, 17, dtype=torch.float64)
    np.testing.assert_allclose(
        _np(param(w)), _np_eigenvalues(name, _np(w), a=2.0, b=0.3), rtol=1e-13, atol=1e-15
    )
    eigenvalues = -torch.logspace(-3, 0.5, 9, dtype=torch.float64)  # inside every map's image
    np.testing.assert_allclose(
        _np(param(param.right_inverse(eigenvalues))), _np(eigenvalues), rtol=1e-12
    )


@pytest.mark.parametrize("name", sorted(STABLE_PARAMETRIZATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_maps_strictly_negative_and_finite_for_extreme_raw_weights(name, dtype):
    param = make_parametrization(name)
    w = torch.tensor([-1e30, -1e6, -1e3, -800.0, -50.0, 0.0, 50.0, 800.0, 1e3, 1e6, 1e30])
    eigenvalues = param(w.to(dtype))
    assert bool(torch.isfinite(eigenvalues).all())
    assert bool((eigenvalues < 0).all())


@pytest.mark.parametrize("name", ["exp", "softplus", "inverse"])
def test_stable_maps_reject_nonnegative_eigenvalues(name):
    with pytest.raises(ValueError, match=name):
        make_parametrization(name).right_inverse(torch.tensor([-1.0, 0.5]))


def test_inverse_map_range_limit_and_constants():
    with pytest.raises(ValueError, match="-1/b"):
        make_parametrization("inverse", inverse_b=0.1).right_inverse(torch.tensor([-20.0]))
    with pytest.raises(ValueError, match="inverse_a"):
        make_parametrization("inverse", inverse_a=0.0)
    with pytest.raises(ValueError, match="inverse_b"):
        make_parametrization("inverse", inverse_b=-1.0)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("parametrization", sorted(PARAMETRIZATIONS))
@pytest.mark.parametrize("structure", ["diagonal", "symmetric"])
def test_init_is_stable_with_eigenvalues_in_decay_range(parametrization, structure):
    model = _rnn(
        hidden_size=16,
        structure=structure,
        parametrization=parametrization,
        init_decay_range=(0.02, 0.5),
    )
    eigenvalues = np.linalg.eigvals(_np(model.recurrent_matrix()))
    assert np.all(eigenvalues.real <= -0.02 * (1 - 1e-9))
    assert np.all(eigenvalues.real >= -0.5 * (1 + 1e-9))
    assert model.stability_margin() >= 0.02 * (1 - 1e-9)


@pytest.mark.parametrize("parametrization", sorted(STABLE_PARAMETRIZATIONS))
@pytest.mark.parametrize("structure", ["diagonal", "symmetric"])
def test_stable_parametrizations_survive_huge_perturbations(parametrization, structure):
    model = _rnn(hidden_size=8, structure=structure, parametrization=parametrization)
    for seed in range(3):
        _perturb_all_parameters(model, 1e3, seed=seed)
        eigenvalues = model.recurrent_eigenvalues()
        assert bool((eigenvalues.real < 0).all())
        assert model.stability_margin() > 0
        if structure == "diagonal":  # eig of a diagonal matrix is exact in numpy
            numpy_eigs = np.linalg.eigvals(_np(model.recurrent_matrix()))
            assert np.all(numpy_eigs.real < 0)
            assert model.stability_margin() == pytest.approx(-numpy_eigs.real.max(), rel=1e-12)
        else:  # W = Q diag(lambda) Q^T with Q still orthogonal: eig(W) = lambda
            q = _np(model.basis)
            np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-10)


@pytest.mark.parametrize("structure", ["diagonal", "symmetric", "dense"])
def test_stability_margin_equals_numpy_eigenvalues(structure):
    parametrization = "direct" if structure == "dense" else "softplus"
    model = _rnn(hidden_size=6, structure=structure, parametrization=parametrization)
    _perturb_all_parameters(model, 0.5, seed=3)
    numpy_eigs = np.linalg.eigvals(_np(model.recurrent_matrix()))
    assert model.stability_margin() == pytest.approx(-numpy_eigs.real.max(), rel=1e-9, abs=1e-12)
    radius = np.abs(1 + model.dt * numpy_eigs).max()
    assert model.euler_spectral_radius() == pytest.approx(radius, rel=1e-9)


@pytest.mark.parametrize("structure", ["diagonal", "symmetric", "dense"])
def test_direct_parametrization_is_destabilised_by_a_perturbation_just_above_the_margin(structure):
    model = _rnn(hidden_size=6, structure=structure, parametrization="direct")
    margin = model.stability_margin()
    assert margin > 0
    with torch.no_grad():
        raw = model.raw_recurrent_weight
        # eigenvalues + (margin + 1e-3): shift w (diagonal/symmetric) or W + s I (dense)
        shift = margin + 1e-3
        raw.add_(shift * torch.eye(6, dtype=raw.dtype) if raw.dim() == 2 else shift)
    assert model.stability_margin() == pytest.approx(-1e-3, rel=1e-6)
    assert np.linalg.eigvals(_np(model.recurrent_matrix())).real.max() > 0


def test_relu_parametrization_reaches_zero_eigenvalues():
    model = _rnn(hidden_size=4, parametrization="relu")
    with torch.no_grad():
        model.raw_recurrent_weight.copy_(-torch.rand(4, dtype=torch.float64) - 0.1)
    assert model.stability_margin() == 0.0


def test_symmetric_basis_stays_orthogonal_after_optimizer_steps():
    model = _rnn(hidden_size=6, structure="symmetric", parametrization="softplus")
    raw_basis_before = model.parametrizations.basis.original.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.3)
    x = torch.randn(4, 10, 1, dtype=torch.float64)
    for _ in range(3):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
    assert not torch.equal(model.parametrizations.basis.original, raw_basis_before)
    q = _np(model.basis)
    np.testing.assert_allclose(q.T @ q, np.eye(6), atol=1e-12)
    w_mat = _np(model.recurrent_matrix())
    np.testing.assert_allclose(w_mat, w_mat.T, atol=1e-12)
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(w_mat)), np.sort(_np(model.eigenvalues)), atol=1e-12
    )


# --------------------------------------------------------------------------- parameters, I/O


@pytest.mark.parametrize(
    ("structure", "parametrization", "expected_recurrent"),
    [
        ("diagonal", "exp", {"parametrizations.eigenvalues.original"}),
        (
            "symmetric",
            "inverse",
            {"parametrizations.eigenvalues.original", "parametrizations.basis.original"},
        ),
        ("dense", "direct", {"recurrent_weight"}),
    ],
)
def test_parameters_are_exactly_the_raw_weights(structure, parametrization, expected_recurrent):
    model = _rnn(
        hidden_size=3, structure=structure, parametrization=parametrization, readout_bias=True
    )
    names = {name for name, _ in model.named_parameters()}
    readin_out = {"input_kernel.weight", "input_kernel.bias", "readout.weight", "readout.bias"}
    assert names == expected_recurrent | readin_out
    assert any(p is model.raw_recurrent_weight for p in model.parameters())
    model(torch.randn(2, 5, 1, dtype=torch.float64)).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name


def _all_model_kinds():
    return [
        lambda: ContinuousRNN(4, 2, 3, structure="diagonal", parametrization="inverse"),
        lambda: ContinuousRNN(4, 2, 3, structure="symmetric", activation="hardtanh"),
        lambda: ContinuousRNN(4, 2, 3, structure="dense", parametrization="direct", bias=False),
        lambda: ContinuousGRU(4, 2, 3, dt=0.5, readout_bias=True),
        lambda: ContinuousLSTM(4, 2, 3, dt=0.5, bias=False),
    ]


@pytest.mark.parametrize("make", _all_model_kinds())
def test_state_dict_and_config_round_trip(make):
    torch.manual_seed(0)
    model = make().double()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    config = json.loads(json.dumps(model.config()))
    torch.manual_seed(123)  # the fresh model starts from different weights
    fresh = build_model(config).double()
    x = torch.randn(2, 7, 2, dtype=torch.float64)
    assert not torch.equal(fresh(x), model(x))
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    assert fresh.config() == model.config()
    assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize("make", _all_model_kinds())
def test_dtype_conversion_and_input_checks(make):
    torch.manual_seed(0)
    model = make()
    x32 = torch.randn(2, 6, 2)
    y32 = model(x32)
    assert y32.dtype == torch.float32 and y32.shape == (2, 6, 3)
    model64 = model.to(torch.float64)
    y64 = model64(x32.double())
    assert y64.dtype == torch.float64
    np.testing.assert_allclose(_np(y64), _np(y32), rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="dtype"):
        model64(x32)
    with pytest.raises(ValueError, match="2 features"):
        model64(torch.randn(2, 6, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch, time, features"):
        model64(torch.randn(6, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        model64(torch.full((1, 3, 2), float("nan"), dtype=torch.float64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("make", _all_model_kinds())
def test_models_run_on_gpu(make):
    torch.manual_seed(0)
    model = make().double()
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    expected = model(x)
    got = model.to("cuda")(x.cuda())
    np.testing.assert_allclose(_np(got), _np(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"hidden_size": 0}, ValueError, "hidden_size"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size"),
        ({"hidden_size": 3, "input_size": 0}, ValueError, "input_size"),
        ({"hidden_size": 3, "dt": 0.0}, ValueError, "dt"),
        ({"hidden_size": 3, "dt": -1.0}, ValueError, "dt"),
        ({"hidden_size": 3, "activation": "gelu"}, ValueError, "hardtanh, linear, relu, tanh"),
        ({"hidden_size": 3, "parametrization": "tan"}, ValueError, "direct, exp, inverse"),
        ({"hidden_size": 3, "structure": "banded"}, ValueError, "dense, diagonal, symmetric"),
        ({"hidden_size": 3, "structure": "dense"}, ValueError, "only parametrization='direct'"),
        ({"hidden_size": 3, "backend": "magic"}, ValueError, "backend"),
        ({"hidden_size": 3, "bias": 1}, TypeError, "bias"),
        ({"hidden_size": 3, "inverse_a": -1.0}, ValueError, "inverse_a"),
        ({"hidden_size": 3, "inverse_b": -0.1}, ValueError, "inverse_b"),
        ({"hidden_size": 3, "init_decay_range": (1.0, 0.1)}, ValueError, "r_min <= r_max"),
        ({"hidden_size": 3, "init_decay_range": (0.0, 0.1)}, ValueError, "init_decay_range"),
        (
            {"hidden_size": 3, "parametrization": "inverse", "init_decay_range": (0.1, 20.0)},
            ValueError,
            "1/inverse_b",
        ),
    ],
)
def test_rnn_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ContinuousRNN(**kwargs)


@pytest.mark.parametrize("cls", [ContinuousGRU, ContinuousLSTM])
def test_gated_bad_constructor_arguments(cls):
    with pytest.raises(ValueError, match="hidden_size"):
        cls(0)
    with pytest.raises(ValueError, match="dt"):
        cls(3, dt=0.0)
    with pytest.raises(TypeError, match="readout_bias"):
        cls(3, readout_bias="yes")


def test_build_model_errors():
    with pytest.raises(ValueError, match="ContinuousGRU, ContinuousLSTM, ContinuousRNN"):
        build_model({"model": "Transformer", "hidden_size": 3})
    with pytest.raises(ValueError, match="'model' key"):
        build_model({"hidden_size": 3})
    with pytest.raises(ValueError, match="not 'ContinuousRNN'"):
        ContinuousRNN.from_config({"model": "ContinuousGRU", "hidden_size": 3})


# --------------------------------------------------------------------------- GRU / LSTM


@pytest.mark.parametrize("bias", [True, False])
def test_gru_at_unit_step_equals_torch_gru(bias):
    torch.manual_seed(0)
    reference = torch.nn.GRU(2, 5, batch_first=True, bias=bias).double()
    model = ContinuousGRU.from_torch(reference, dt=1.0)
    x = torch.randn(3, 15, 2, dtype=torch.float64)
    expected, _ = reference(x)
    torch.testing.assert_close(model.hidden_states(x), expected, rtol=1e-12, atol=1e-13)


def test_lstm_at_unit_step_equals_torch_lstm():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(2, 5, batch_first=True).double()
    model = ContinuousLSTM.from_torch(reference, dt=1.0)
    x = torch.randn(3, 15, 2, dtype=torch.float64)
    expected, _ = reference(x)
    torch.testing.assert_close(model.hidden_states(x), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_small_step_matches_numpy_equations(reset_after):
    torch.manual_seed(1)
    model = ContinuousGRU(4, 2, dt=0.4, reset_after=reset_after).double()
    x = np.random.default_rng(2).standard_normal((2, 11, 2))
    np.testing.assert_allclose(
        _np(model.hidden_states(torch.from_numpy(x))), _np_gru_states(model, x), rtol=1e-12
    )


def test_lstm_small_step_matches_numpy_equations():
    torch.manual_seed(1)
    model = ContinuousLSTM(4, 2, dt=0.4).double()
    x = np.random.default_rng(3).standard_normal((2, 11, 2))
    np.testing.assert_allclose(
        _np(model.hidden_states(torch.from_numpy(x))), _np_lstm_states(model, x), rtol=1e-12
    )


def test_gru_linearisation_at_zero_matches_paper_eq_144():
    """With b_h = 0: d(dh/dt)/dh at h = 0 equals Diag(sigma(b_z)) (U_h Diag(sigma(b_r)) - I)."""
    torch.manual_seed(2)
    m = 4
    model = ContinuousGRU(m, 1, dt=0.1).double()
    with torch.no_grad():
        model.bias_ih[2 * m :] = 0.0
        model.bias_hh[2 * m :] = 0.0
    x = torch.zeros(1, 1, dtype=torch.float64)
    h0 = torch.zeros(1, m, dtype=torch.float64)
    np.testing.assert_allclose(_np(model.vector_field(h0, x)), 0.0, atol=0)  # eq 143
    jacobian = torch.autograd.functional.jacobian(lambda h: model.vector_field(h, x)[0], h0)[:, 0]
    b = _np(model.bias_ih) + _np(model.bias_hh)
    u_h = _np(model.weight_hh)[2 * m :]
    expected = np.diag(_sigmoid(b[m : 2 * m])) @ (u_h @ np.diag(_sigmoid(b[:m])) - np.eye(m))
    np.testing.assert_allclose(_np(jacobian), expected, rtol=1e-12, atol=1e-14)


def test_lstm_vector_field_drives_the_euler_step():
    """For the cell state, one step is c + dt dc/dt exactly; h uses the updated c."""
    torch.manual_seed(4)
    model = ContinuousLSTM(3, 1, dt=0.25).double()
    x = torch.randn(2, 1, 1, dtype=torch.float64)
    zeros = torch.zeros(2, 3, dtype=torch.float64)
    dc, dh = model.vector_field(zeros, zeros, x[:, 0])
    np.testing.assert_allclose(_np(dh), 0.0, atol=0)  # o tanh(0) - 0 = 0
    c1 = 0.25 * dc
    o = torch.chunk(model.bias_ih + model.bias_hh, 4)[3]
    o_gate = torch.sigmoid(model.weight_ih[9:, 0] * x[:, 0] + o)
    expected_h1 = 0.25 * o_gate * torch.tanh(c1)
    torch.testing.assert_close(model.hidden_states(x)[:, 0], expected_h1, rtol=1e-12, atol=0)


def test_from_torch_rejects_unsupported_modules():
    with pytest.raises(ValueError, match="single-layer"):
        ContinuousGRU.from_torch(torch.nn.GRU(1, 3, num_layers=2))
    with pytest.raises(ValueError, match="single-layer"):
        ContinuousLSTM.from_torch(torch.nn.LSTM(1, 3, bidirectional=True))
    with pytest.raises(TypeError, match="GRU"):
        ContinuousGRU.from_torch(torch.nn.LSTM(1, 3))
