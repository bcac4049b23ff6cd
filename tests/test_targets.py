"""Tests for curse_of_memory.targets: linear functionals, named memories, teachers, datasets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curse_of_memory.targets import (
    NAMED_MEMORIES,
    LinearFunctional,
    RandomRNNTeacher,
    RandomTransformerTeacher,
    SequenceDataset,
    make_dataset,
)

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _damped_cos_3ch(t: np.ndarray) -> np.ndarray:
    """A non-monotone kernel with a different component per channel: shape (n, 3)."""
    return np.stack([np.exp(-t) * np.cos(3 * t), np.exp(-0.5 * t), np.sin(2 * t) / (1 + t)], 1)


# ---------------------------------------------------------------- LinearFunctional outputs


def test_fft_outputs_match_direct_sum_d3_nonmonotone():
    functional = LinearFunctional(_damped_cos_3ch, input_dim=3)
    x = _randn(4, 67, 3)
    y_fft = functional(x, dt=0.3)
    y_direct = functional.outputs_direct(x, dt=0.3)
    assert y_fft.shape == (4, 67, 1) and y_fft.dtype == F64
    torch.testing.assert_close(y_fft, y_direct, rtol=0, atol=1e-12)


def test_impulse_response_is_dt_times_rho():
    # x = e_i at step 0 only  =>  y_k = dt * rho_i(k dt)  (paper eq 5 discretised)
    functional = LinearFunctional(_damped_cos_3ch, input_dim=3)
    dt, length = 0.25, 40
    x = torch.zeros(3, length, 3, dtype=F64)
    x[[0, 1, 2], 0, [0, 1, 2]] = 1.0
    y = functional(x, dt)[..., 0]
    t = np.arange(length) * dt
    expected = dt * torch.from_numpy(_damped_cos_3ch(t).T)  # (3, length)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-13)


def test_heaviside_response_of_exp_is_geometric_sum():
    # u_k = (a, b) for k >= 0 and rho = e^{-r t}:  y_k = (a + b) dt (1 - q^{k+1}) / (1 - q)
    rate, dt, length = 0.7, 0.2, 50
    functional = LinearFunctional.named("exp", input_dim=2, rate=rate)
    x = torch.tensor([1.5, -0.25], dtype=F64).expand(1, length, 2)
    q = math.exp(-rate * dt)
    k = np.arange(length)
    expected = 1.25 * dt * (1 - q ** (k + 1)) / (1 - q)
    np.testing.assert_allclose(functional(x, dt)[0, :, 0].numpy(), expected, rtol=1e-12)


def test_float32_inputs_give_float32_outputs():
    functional = LinearFunctional.named("pol")
    x = _randn(2, 30, 1)
    y32 = functional(x.float(), 0.5)
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), functional.outputs_direct(x, 0.5), atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_outputs_on_gpu_follow_device_and_match_cpu():
    functional = LinearFunctional(_damped_cos_3ch, input_dim=3)
    x = _randn(3, 50, 3)
    y_gpu = functional(x.cuda(), 0.1)
    assert y_gpu.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), functional.outputs_direct(x, 0.1), atol=1e-12, rtol=0)


def test_kernel_is_dt_times_rho_on_grid():
    functional = LinearFunctional.named("exp", rate=2.0)
    kernel = functional.kernel(5, 0.5)
    assert kernel.shape == (5, 1)
    np.testing.assert_allclose(kernel[:, 0], 0.5 * np.exp(-2.0 * 0.5 * np.arange(5)), rtol=1e-15)


# ---------------------------------------------------------------- named memories

T_POINTS = np.array([0.0, 0.5, 1.0, 3.7, 9.5, 10.0, 12.0])

CLOSED_FORMS = [
    ("exp", {}, lambda t: math.exp(-t)),
    ("exp", {"rate": 0.3}, lambda t: math.exp(-0.3 * t)),
    ("pol", {}, lambda t: (1 + t) ** -1.1),
    ("pol", {"power": 1.5}, lambda t: (1 + t) ** -1.5),
    ("pol", {"scale": 0.1}, lambda t: (1 + 0.1 * t) ** -1.1),
    ("shift", {}, lambda t: 1.0 if 9 < t < 11 else 0.0),
    ("shift", {"start": 0.5, "stop": 3.7}, lambda t: 1.0 if 0.5 < t < 3.7 else 0.0),
    ("twoparts", {}, lambda t: math.exp(-t) + math.exp(-((t - 9) ** 2))),
    ("sin", {}, math.sin),
    ("sin", {"frequency": 2.5}, lambda t: math.sin(2.5 * t)),
]


@pytest.mark.parametrize(("name", "params", "closed_form"), CLOSED_FORMS)
def test_named_memory_matches_closed_form(name, params, closed_form):
    rho = LinearFunctional.named(name, **params).rho(T_POINTS)
    assert rho.shape == (len(T_POINTS), 1)
    expected = [closed_form(float(t)) for t in T_POINTS]
    np.testing.assert_allclose(rho[:, 0], expected, rtol=1e-14, atol=0)


def test_airy_matches_tabulated_values():
    # Ai(0), Ai(1), Ai(-1) from Abramowitz & Stegun table 10.11; airy(t) = Ai(t - 6)
    rho = LinearFunctional.named("airy").rho(np.array([6.0, 7.0, 5.0]))[:, 0]
    np.testing.assert_allclose(rho, [0.355028053887817, 0.135292416312881, 0.535560883292352])
    shifted = LinearFunctional.named("airy", shift=0.0).rho(np.array([0.0]))[0, 0]
    assert shifted == pytest.approx(0.355028053887817, rel=1e-13)


def test_exp_with_rate_minus_log_point_nine_is_paper_memory():
    rho = LinearFunctional.named("exp", rate=-math.log(0.9)).rho(np.arange(0.0, 100.0))
    np.testing.assert_allclose(rho[:, 0], 0.9 ** np.arange(100.0), rtol=1e-12)


def test_pol_defaults_are_power_1_1_scale_1():
    assert NAMED_MEMORIES["pol"].defaults == {"power": 1.1, "scale": 1.0}
    assert LinearFunctional.named("pol").name == "pol(power=1.1, scale=1)"


def test_registry_covers_official_dictionary_with_informative_names():
    assert set(NAMED_MEMORIES) == {"exp", "pol", "shift", "twoparts", "airy", "sin"}
    assert LinearFunctional.named("pol", power=1.5).name == "pol(power=1.5, scale=1)"
    assert LinearFunctional.named("shift").name == "shift(start=9, stop=11)"
    assert LinearFunctional.named("airy").name == "airy(shift=6)"


def test_named_kernel_is_shared_by_all_channels():
    rho = LinearFunctional.named("twoparts", input_dim=3).rho(T_POINTS)
    assert rho.shape == (len(T_POINTS), 3)
    np.testing.assert_array_equal(rho[:, 0], rho[:, 2])


def test_unknown_memory_name_lists_valid_names():
    with pytest.raises(ValueError, match="airy, exp, pol, shift, sin, twoparts"):
        LinearFunctional.named("gauss")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("pol", {"pwr": 2.0}, "valid parameters: power, scale"),
        ("exp", {"rate": -1.0}, "rate must be a positive"),
        ("exp", {"rate": float("nan")}, "rate must be a positive"),
        ("pol", {"power": 0.0}, "power must be a positive"),
        ("shift", {"start": 5.0, "stop": 5.0}, "stop must be greater than start"),
        ("shift", {"start": -1.0}, "start must be >= 0"),
        ("airy", {"shift": float("inf")}, "shift must be a finite"),
        ("sin", {"frequency": "fast"}, "frequency must be a positive"),
    ],
)
def test_invalid_memory_params_raise(name, params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        LinearFunctional.named(name, **params)


# ---------------------------------------------------------------- LinearFunctional errors


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan")])
def test_nonpositive_dt_raises(dt):
    functional = LinearFunctional.named("exp")
    with pytest.raises(ValueError, match="dt must be a positive"):
        functional(_randn(1, 5, 1), dt)
    with pytest.raises(ValueError, match="dt must be a positive"):
        functional.kernel(5, dt)


def test_bad_inputs_raise_clear_errors():
    functional = LinearFunctional.named("exp", input_dim=2)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        functional.kernel(0, 1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, time, features\)"):
        functional(_randn(5, 2), 1.0)
    with pytest.raises(ValueError, match="x must have 2 features"):
        functional(_randn(1, 5, 3), 1.0)
    x_nan = _randn(1, 5, 2)
    x_nan[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        functional(x_nan, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        functional.outputs_direct(x_nan, 1.0)
    with pytest.raises(TypeError, match="rho must be callable"):
        LinearFunctional(0.9)
    with pytest.raises(ValueError, match="input_dim must be a positive"):
        LinearFunctional.named("exp", input_dim=0)
    bad_shape = LinearFunctional(lambda t: np.zeros((len(t), 2)), input_dim=3)
    with pytest.raises(ValueError, match="rho returned shape"):
        bad_shape.rho(T_POINTS)


# ---------------------------------------------------------------- teachers

TEACHERS = {
    "rnn_euler": lambda **kw: RandomRNNTeacher(hidden_size=12, **kw),
    "rnn_euler_leaky_hardtanh": lambda **kw: RandomRNNTeacher(
        hidden_size=12, activation="hardtanh", leak=1.0, dt=0.5, **kw
    ),
    "rnn_torch": lambda **kw: RandomRNNTeacher(hidden_size=12, cell="torch", **kw),
    "transformer": lambda **kw: RandomTransformerTeacher(num_layers=2, **kw),
}


@pytest.mark.parametrize("kind", TEACHERS)
def test_teacher_shapes_dtype_and_frozen(kind):
    teacher = TEACHERS[kind](input_dim=2, seed=3)
    y = teacher(_randn(3, 17, 2))
    assert y.shape == (3, 17, 1) and y.dtype == F64
    assert bool(torch.isfinite(y).all())
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.dtype == F64 for p in teacher.parameters())


@pytest.mark.parametrize("kind", TEACHERS)
def test_teacher_is_causal(kind):
    teacher = TEACHERS[kind](input_dim=2)
    x = _randn(2, 20, 2, seed=1)
    k = 8
    x_changed = x.clone()
    x_changed[:, k + 1 :] = _randn(2, 20 - k - 1, 2, seed=2)
    y, y_changed = teacher(x), teacher(x_changed)
    torch.testing.assert_close(y[:, : k + 1], y_changed[:, : k + 1], atol=1e-12, rtol=0)
    assert (y[:, k + 1 :] - y_changed[:, k + 1 :]).abs().max() > 1e-6
    # a prefix gives the same outputs as the full sequence
    torch.testing.assert_close(teacher(x[:, : k + 1]), y[:, : k + 1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", TEACHERS)
def test_teacher_seeding_is_deterministic_and_leaves_global_rng(kind):
    x = _randn(2, 10, 1)
    state = torch.get_rng_state()
    y_a = TEACHERS[kind](seed=5)(x)
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(TEACHERS[kind](seed=5)(x), y_a, atol=0, rtol=0)
    assert (TEACHERS[kind](seed=6)(x) - y_a).abs().max() > 1e-6


def test_euler_teacher_matches_explicit_loop():
    # h_{k+1} = h_k + dt tanh((W - leak I) h_k + U x_k + b), y_k = c.h_{k+1} + c0  (paper eq 3)
    teacher = RandomRNNTeacher(hidden_size=6, input_dim=2, dt=0.3, leak=0.2, seed=1)
    x = _randn(2, 15, 2)
    w = teacher.recurrent.detach().numpy()
    u = teacher.input_weight.detach().numpy()
    b = teacher.bias.detach().numpy()
    c = teacher.readout.weight.detach().numpy()[0]
    c0 = teacher.readout.bias.item()
    expected = np.zeros((2, 15))
    for i in range(2):
        h = np.zeros(6)
        for k in range(15):
            h = h + 0.3 * np.tanh(w @ h + u @ x[i, k].numpy() + b)
            expected[i, k] = c @ h + c0
    np.testing.assert_allclose(teacher(x)[..., 0].numpy(), expected, rtol=1e-12, atol=1e-14)


def test_euler_teacher_leak_shifts_diagonal_and_init_scale():
    plain = RandomRNNTeacher(hidden_size=64, seed=4)
    leaky = RandomRNNTeacher(hidden_size=64, seed=4, leak=0.7)
    torch.testing.assert_close(plain.recurrent - leaky.recurrent, 0.7 * torch.eye(64, dtype=F64))
    assert plain.recurrent.abs().max() <= 1 / 8  # U(-1/sqrt(m), 1/sqrt(m)), m = 64
    assert plain.recurrent.abs().max() > 0.9 / 8


def test_torch_cell_matches_elman_recurrence():
    # official teacher: h_{k+1} = tanh(W_ih x_k + b_ih + W_hh h_k + b_hh)
    teacher = RandomRNNTeacher(hidden_size=5, cell="torch", seed=2)
    x = _randn(1, 12, 1)
    rnn = teacher.rnn
    h = torch.zeros(5, dtype=F64)
    states = []
    for k in range(12):
        pre = rnn.weight_ih_l0 @ x[0, k] + rnn.bias_ih_l0 + rnn.weight_hh_l0 @ h + rnn.bias_hh_l0
        h = torch.tanh(pre)
        states.append(h)
    y = torch.stack(states) @ teacher.readout.weight[0] + teacher.readout.bias
    torch.testing.assert_close(teacher(x)[0, :, 0], y, atol=1e-13, rtol=0)


def test_teacher_argument_errors():
    with pytest.raises(ValueError, match="valid choices: relu, tanh"):
        RandomRNNTeacher(hidden_size=4, cell="torch", activation="hardtanh")
    with pytest.raises(ValueError, match="leak applies to cell='euler' only"):
        RandomRNNTeacher(hidden_size=4, cell="torch", leak=0.5)
    with pytest.raises(ValueError, match="valid choices: euler, torch"):
        RandomRNNTeacher(hidden_size=4, cell="gru")
    with pytest.raises(ValueError, match="hidden_size must be a positive"):
        RandomRNNTeacher(hidden_size=0)
    with pytest.raises(ValueError, match="divisible by nhead"):
        RandomTransformerTeacher(d_model=10, nhead=3)
    with pytest.raises(TypeError, match="dtype must be a floating"):
        RandomTransformerTeacher(dtype=torch.int64)
    teacher = RandomRNNTeacher(hidden_size=4, input_dim=2)
    with pytest.raises(ValueError, match="x must have 2 features"):
        teacher(_randn(1, 5, 1))
    with pytest.raises(ValueError, match=r"shape \(batch, time, features\)"):
        teacher(_randn(5, 2))


# ---------------------------------------------------------------- datasets


def test_dataset_is_deterministic_for_a_seed():
    a = make_dataset("exp", n=20, length=12, dt=0.5, seed=7)
    b = make_dataset("exp", n=20, length=12, dt=0.5, seed=7)
    c = make_dataset("exp", n=20, length=12, dt=0.5, seed=8)
    for name in ("train", "val", "test"):
        for tensor_a, tensor_b in zip(a.split(name), b.split(name), strict=True):
            assert torch.equal(tensor_a, tensor_b)
    assert not torch.equal(a.train[0], c.train[0])


def test_dataset_outputs_are_target_outputs_and_splits_partition_inputs():
    functional = LinearFunctional(_damped_cos_3ch, input_dim=3)
    data = make_dataset(functional, n=10, length=9, dt=0.4, input_dim=3, seed=1)
    assert isinstance(data, SequenceDataset)
    assert data.sizes() == {"train": 8, "val": 1, "test": 1}
    assert data.dt == 0.4 and data.target_name == functional.name
    for name in ("train", "val", "test"):
        x, y = data.split(name)
        assert x.shape[1:] == (9, 3) and y.shape[1:] == (9, 1)
        torch.testing.assert_close(y, functional.outputs_direct(x, 0.4), atol=1e-12, rtol=0)
    # the splits partition dt * N(0, 1) noise drawn from the seed (as in the official code)
    noise = torch.randn(10, 9, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    all_inputs = torch.cat([data.train[0], data.val[0], data.test[0]])
    key = lambda t: t[:, 0, 0].argsort()  # noqa: E731
    torch.testing.assert_close(all_inputs[key(all_inputs)], 0.4 * noise[key(noise)])


def test_white_inputs_have_dt_scale():
    data = make_dataset("pol", n=400, length=50, dt=0.2, seed=0)
    x = torch.cat([data.train[0], data.val[0], data.test[0]])
    assert abs(x.mean().item()) < 0.01 * 0.2 * 5
    assert x.std().item() == pytest.approx(0.2, rel=0.02)


def test_gaussian_process_inputs_are_running_sums_of_white_inputs():
    white = make_dataset("exp", n=6, length=30, dt=0.5, seed=3)
    walk = make_dataset("exp", n=6, length=30, dt=0.5, seed=3, input_kind="gaussian_process")
    torch.testing.assert_close(walk.train[0], white.train[0].cumsum(1), atol=1e-14, rtol=0)
    assert walk.input_kind == "gaussian_process"


def test_dataset_with_teacher_modules_and_tuple_outputs():
    teacher = RandomTransformerTeacher(seed=1)
    data = make_dataset(teacher, n=5, length=7, dt=1.0, seed=2)
    torch.testing.assert_close(data.test[1], teacher(data.test[0]), atol=1e-13, rtol=0)
    assert data.target_name.startswith("transformer_teacher")

    rnn = torch.nn.RNN(1, 3, batch_first=True, dtype=F64)  # returns (outputs, h_n)
    data = make_dataset(rnn, n=4, length=6, dt=1.0, device="cpu")
    with torch.no_grad():
        expected = rnn(data.train[0])[0]
    assert data.train[1].shape == (2, 6, 3)
    torch.testing.assert_close(data.train[1], expected, atol=1e-13, rtol=0)


def test_dataset_float32_and_dataloader_view():
    data = make_dataset("sin", n=8, length=5, dt=1.0, dtype=torch.float32, split=(0.5, 0.25, 0.25))
    assert data.train[0].dtype == torch.float32 and data.train[1].dtype == torch.float32
    loader = torch.utils.data.DataLoader(data.tensor_dataset("train"), batch_size=3)
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [3, 1]
    assert batches[0][1].shape == (3, 5, 1)


def test_small_n_gives_every_split_one_sequence():
    assert make_dataset("exp", n=3, length=2, dt=1.0).sizes() == {"train": 1, "val": 1, "test": 1}
    sizes = make_dataset("exp", n=5, length=2, dt=1.0, split=(0.98, 0.01, 0.01)).sizes()
    assert sizes == {"train": 3, "val": 1, "test": 1}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 2}, ValueError, "n must be at least 3"),
        ({"length": 0}, ValueError, "length must be a positive integer"),
        ({"dt": 0.0}, ValueError, "dt must be a positive"),
        ({"dt": -1.0}, ValueError, "dt must be a positive"),
        ({"split": (0.5, 0.3, 0.1)}, ValueError, "sum to 1"),
        ({"split": (1.2, -0.1, -0.1)}, ValueError, "positive"),
        ({"split": (0.5, 0.5)}, ValueError, "3 fractions"),
        ({"input_kind": "pink"}, ValueError, "valid choices: gaussian_process, white"),
        ({"input_dim": 2, "target": LinearFunctional.named("exp")}, ValueError, "input_dim=1"),
        ({"target": "nope"}, ValueError, "valid choices: airy"),
        ({"target": 3.0}, TypeError, "target must be"),
        ({"dtype": torch.int32}, TypeError, "dtype must be a floating"),
        ({"target": lambda x: x[:, :-1]}, ValueError, "target must map"),
        ({"target": lambda x: x * float("nan")}, ValueError, "NaN"),
    ],
)
def test_make_dataset_argument_errors(kwargs, error, message):
    args = {"target": "exp", "n": 10, "length": 5, "dt": 1.0, **kwargs}
    with pytest.raises(error, match=message):
        make_dataset(**args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_dataset_on_gpu_teacher_matches_cpu():
    teacher = RandomRNNTeacher(hidden_size=8, seed=1)
    cpu = make_dataset(teacher, n=6, length=10, dt=1.0)
    gpu = make_dataset(teacher.cuda(), n=6, length=10, dt=1.0)
    assert gpu.train[1].device.type == "cpu"
    torch.testing.assert_close(gpu.train[0], cpu.train[0], atol=0, rtol=0)
    torch.testing.assert_close(gpu.train[1], cpu.train[1], atol=1e-12, rtol=0)


def test_named_split_access_rejects_unknown_split():
    data = make_dataset("exp", n=3, length=2, dt=1.0)
    with pytest.raises(ValueError, match="valid choices: test, train, val"):
        data.split("validation")
