"""Fast recurrence backends against the float64 torch reference loop (SPEC eq 3)."""

from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import pytest
import torch

from curse_of_memory.kernels import (
    BACKENDS,
    available_backends,
    euler_recurrence,
    euler_recurrence_batched_models,
)
from curse_of_memory.kernels.reference import (
    euler_recurrence_reference,
    euler_recurrence_reference_models,
)

ACTIVATION_NAMES = ("linear", "tanh", "hardtanh", "relu")
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _random_case(seed: int, diagonal: bool, dtype: torch.dtype, models: int | None = None):
    """Seeded random drive/recurrent of a random small shape; dt from a small set."""
    rng = np.random.default_rng(seed)
    batch, length, m = (int(v) for v in rng.integers((1, 1, 1), (5, 40, 9)))
    dt = float(rng.choice([0.05, 0.3, 1.0]))
    lead = () if models is None else (models,)
    drive = torch.from_numpy(rng.normal(size=(*lead, batch, length, m))).to(dtype)
    if diagonal:  # 1 + dt * lambda in (-1, 1): a stable, decaying recurrence
        recurrent = torch.from_numpy(-rng.uniform(0.0, 1.9 / dt, size=(*lead, m)))
    else:
        recurrent = torch.from_numpy(rng.normal(size=(*lead, m, m)) / np.sqrt(m) - np.eye(m))
    return drive, recurrent.to(dtype), dt


def _relative_error(value: torch.Tensor, expected: torch.Tensor) -> float:
    scale = expected.abs().max().clamp_min(1e-30)
    return float((value.double() - expected.double()).abs().max() / scale)


def _values_and_grads(run, drive, recurrent, upstream):
    drive = drive.clone().requires_grad_(True)
    recurrent = recurrent.clone().requires_grad_(True)
    states = run(drive, recurrent)
    grads = torch.autograd.grad(states, (drive, recurrent), upstream)
    return (states.detach(), *grads)


def _assert_matches_reference(run, drive, recurrent, dt, activation, reference):
    """``run`` vs ``reference`` autograd, both called on the same inputs."""
    upstream = torch.randn(
        drive.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    ).to(drive.dtype)
    got = _values_and_grads(run, drive, recurrent, upstream)
    want = _values_and_grads(
        lambda d, w: reference(d, w, dt, activation), drive, recurrent, upstream
    )
    for name, value, expected in zip(("states", "d drive", "d recurrent"), got, want, strict=True):
        assert value.shape == expected.shape and value.dtype == expected.dtype
        error = _relative_error(value, expected)
        assert error <= TOLERANCE[drive.dtype], f"{name}: relative error {error:.2e}"


def _separate_reference_runs(drive, recurrent, dt, activation):
    """Independent check of a batch of models: one single-model reference run per
    model k, stacked to ``(K, B, T, m)``; a ``(B, T, m)`` drive is shared by all."""
    shared = drive.dim() == 3
    return torch.stack(
        [
            euler_recurrence_reference(drive if shared else drive[k], recurrent[k], dt, activation)
            for k in range(recurrent.shape[0])
        ]
    )


# ---- numba (compiled CPU) ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_numba_matches_reference(seed, activation, diagonal, dtype):
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(seed, diagonal, dtype)
    _assert_matches_reference(
        lambda d, w: euler_recurrence(d, w, dt, activation, backend="numba"),
        drive,
        recurrent,
        dt,
        activation,
        euler_recurrence_reference,
    )


@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_batched_models_match_separate_reference_runs(diagonal, dtype):
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(3, diagonal, dtype, models=3)
    _assert_matches_reference(
        lambda d, w: euler_recurrence_batched_models(d, w, dt, "tanh", backend="numba"),
        drive,
        recurrent,
        dt,
        "tanh",
        _separate_reference_runs,
    )


@pytest.mark.parametrize("batch", [1, 16, 37])
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_block_edges_match_reference(batch, diagonal, dtype):
    """B = 1, one exact block and a ragged last block (37 = 2 * 16 + 5) of the dense
    kernels, which process sequences in blocks of ``_BLOCK``; two models."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels._numba_cpu import _BLOCK

    assert _BLOCK == 16  # the batch sizes above are chosen around this block size
    rng = np.random.default_rng(batch)
    m, length, dt = 5, 7, 0.3
    drive = torch.from_numpy(rng.normal(size=(2, batch, length, m))).to(dtype)
    if diagonal:
        recurrent = torch.from_numpy(-rng.uniform(0.0, 2.0, size=(2, m))).to(dtype)
    else:
        recurrent = torch.from_numpy(rng.normal(size=(2, m, m)) / np.sqrt(m)).to(dtype)
    _assert_matches_reference(
        lambda d, w: euler_recurrence_batched_models(d, w, dt, "tanh", backend="numba"),
        drive,
        recurrent,
        dt,
        "tanh",
        euler_recurrence_reference_models,
    )


def test_numba_weight_gradient_only_and_single_step():
    """Gradient w.r.t. W alone (drive not requiring grad) and T = 1 (h_0 = 0: dL/dW = 0)."""
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(13, False, torch.float64)
    weight = recurrent.clone().requires_grad_(True)
    (fast,) = torch.autograd.grad(
        euler_recurrence(drive, weight, dt, backend="numba").sum(), weight
    )
    (expected,) = torch.autograd.grad(euler_recurrence_reference(drive, weight, dt).sum(), weight)
    assert _relative_error(fast, expected) <= 1e-10
    one_step = drive[:, :1]
    (grad,) = torch.autograd.grad(
        euler_recurrence(one_step, weight, dt, backend="numba").sum(), weight
    )
    assert torch.equal(grad, torch.zeros_like(grad))


def test_numba_without_grad_matches_reference():
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(4, False, torch.float64)
    with torch.no_grad():
        fast = euler_recurrence(drive, recurrent, dt, "hardtanh", backend="numba")
    expected = euler_recurrence_reference(drive, recurrent, dt, "hardtanh")
    assert _relative_error(fast, expected) <= 1e-12


@pytest.mark.parametrize("diagonal", [True, False])
def test_numba_gradcheck(diagonal):
    pytest.importorskip("numba")
    generator = torch.Generator().manual_seed(5)
    drive = torch.randn(2, 6, 3, dtype=torch.float64, generator=generator).requires_grad_(True)
    shape = (3,) if diagonal else (3, 3)
    recurrent = torch.randn(shape, dtype=torch.float64, generator=generator).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda d, w: euler_recurrence(d, w, 0.3, "tanh", backend="numba"), (drive, recurrent)
    )


# ---- numba under torch.vmap (a batch of models = the kernels' model axis) --------------------


@pytest.mark.parametrize("shared_drive", [False, True])
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_vmap_over_models_is_one_numba_call_and_matches_reference(
    record_calls, shared_drive, diagonal, dtype
):
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_cpu

    calls = record_calls(_numba_cpu, "run_forward", lambda drive, *rest: drive.shape[0])
    drive, recurrent, dt = _random_case(20, diagonal, dtype, models=5)
    if shared_drive:  # only the weights are batched (perturbed copies of one model)
        drive = drive[0]

    def batched(d, w):
        in_dims = (None if shared_drive else 0, 0)
        return torch.vmap(lambda dk, wk: euler_recurrence(dk, wk, dt, "tanh"), in_dims)(d, w)

    upstream = torch.randn(
        5, *drive.shape[-3:], generator=torch.Generator().manual_seed(1), dtype=torch.float64
    ).to(dtype)
    got = _values_and_grads(batched, drive, recurrent, upstream)
    want = _values_and_grads(
        lambda d, w: _separate_reference_runs(d, w, dt, "tanh"), drive, recurrent, upstream
    )
    for value, expected in zip(got, want, strict=True):
        assert _relative_error(value, expected) <= TOLERANCE[dtype]
    assert calls == [5]  # the five models ran as one kernel call (model axis 5)


def test_vmap_with_nested_jvp_and_grad_falls_back_correctly():
    """vmap(jvp(...)) and vmap(grad(...)) have no fused rule: they must still be exact."""
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(21, False, torch.float64, models=3)
    tangent = torch.ones_like(drive[0])

    def directional(d):
        return torch.func.jvp(lambda x: euler_recurrence(x, recurrent[0], dt), (d,), (tangent,))[1]

    def reference_directional(d):
        return torch.func.jvp(
            lambda x: euler_recurrence_reference(x, recurrent[0], dt), (d,), (tangent,)
        )[1]

    expected = torch.stack([reference_directional(d) for d in drive])
    assert _relative_error(torch.vmap(directional)(drive), expected) <= 1e-10

    def grad_of(run):
        return torch.func.grad(lambda w: run(drive[0], w, dt).square().sum())

    batched = torch.vmap(grad_of(euler_recurrence))(recurrent)
    separate = torch.stack([grad_of(euler_recurrence_reference)(w) for w in recurrent])
    assert _relative_error(batched, separate) <= 1e-10


# ---- scan (linear, diagonal) -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_scan_matches_reference(seed, dtype):
    drive, recurrent, dt = _random_case(seed, True, dtype)
    _assert_matches_reference(
        lambda d, w: euler_recurrence(d, w, dt, "linear", backend="scan"),
        drive,
        recurrent,
        dt,
        "linear",
        euler_recurrence_reference,
    )


@pytest.mark.parametrize("length", [1, 2, 9, 10, 81, 1000])
def test_scan_equals_closed_form_convolution(length):
    """h_{k+1} = dt sum_{j<=k} a^{k-j} drive_j with a = 1 + dt lambda, incl. a = 0, a < 0."""
    rng = np.random.default_rng(length)
    dt = 0.5
    lam = np.array([-2.0, -1.0, -3.9, -0.01])  # a = 0, 0.5, -0.95, 0.995
    drive = rng.normal(size=(2, length, lam.size))
    a = 1.0 + dt * lam
    lags = np.arange(length)[:, None] - np.arange(length)[None, :]
    kernel = np.where(lags[..., None] >= 0, a ** np.maximum(lags, 0)[..., None], 0.0)  # (T,T,m)
    expected = dt * np.einsum("kjm,bjm->bkm", kernel, drive)
    got = euler_recurrence(torch.from_numpy(drive), torch.from_numpy(lam), dt, "linear", "scan")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_scan_forced_on_growing_recurrence_still_matches_reference():
    drive, _, _ = _random_case(6, True, torch.float64)
    recurrent = torch.linspace(-0.5, 0.2, drive.shape[-1], dtype=torch.float64)  # |a| up to 1.2
    _assert_matches_reference(
        lambda d, w: euler_recurrence(d, w, 1.0, "linear", backend="scan"),
        drive,
        recurrent,
        1.0,
        "linear",
        euler_recurrence_reference,
    )


def test_scan_batched_models_and_gradcheck():
    drive, recurrent, dt = _random_case(7, True, torch.float64, models=2)
    _assert_matches_reference(
        lambda d, w: euler_recurrence_batched_models(d, w, dt, "linear", backend="scan"),
        drive,
        recurrent,
        dt,
        "linear",
        euler_recurrence_reference_models,
    )
    small = drive[:, :2, :12, :2].clone().requires_grad_(True)
    lam = recurrent[:, :2].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda d, w: euler_recurrence_batched_models(d, w, dt, "linear", backend="scan"),
        (small, lam),
    )


# ---- triton (logic only, CPU interpreter) -------------------------------------------------


def _skip_without_triton_interpreter() -> None:
    """Skip unless triton is installed and runs on the CPU (conftest sets
    ``TRITON_INTERPRET=1`` when there is no GPU)."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("TRITON_INTERPRET=1 is needed to run the Triton kernels on the CPU")
    pytest.importorskip("triton")


@pytest.mark.parametrize("seed", [8, 22])  # m = 2, and m = 6 padded to 8 (masked lanes)
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_triton_interpreter_matches_reference(activation, diagonal, seed):
    _skip_without_triton_interpreter()
    from curse_of_memory.kernels import _triton_gpu
    from curse_of_memory.kernels._fused import fused_euler_recurrence

    drive, recurrent, dt = _random_case(seed, diagonal, torch.float64, models=2)
    assert recurrent.shape[-1] == {8: 2, 22: 6}[seed]
    drive = drive[:, :2, :10]
    _assert_matches_reference(
        lambda d, w: fused_euler_recurrence(d, w, dt, activation, _triton_gpu),
        drive,
        recurrent,
        dt,
        activation,
        euler_recurrence_reference_models,
    )


@pytest.mark.parametrize("diagonal", [True, False])
def test_triton_interpreter_under_vmap_is_one_launch(record_calls, diagonal):
    # perturbation curves on GPU: vmap over copies of the weights, one shared input
    _skip_without_triton_interpreter()
    from curse_of_memory.kernels import _triton_gpu
    from curse_of_memory.kernels._fused import fused_euler_recurrence

    calls = record_calls(_triton_gpu, "run_forward", lambda drive, *rest: drive.shape[0])
    drive, recurrent, dt = _random_case(22, diagonal, torch.float64, models=4)
    drive = drive[0, :, :10]  # (B, T, m), shared by the four models

    def one_model(d, w):
        return fused_euler_recurrence(d[None], w[None], dt, "tanh", _triton_gpu)[0]

    upstream = torch.randn(
        4, *drive.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    batched = torch.vmap(one_model, (None, 0))
    got = _values_and_grads(batched, drive, recurrent, upstream)
    want = _values_and_grads(
        lambda d, w: _separate_reference_runs(d, w, dt, "tanh"), drive, recurrent, upstream
    )
    for value, expected in zip(got, want, strict=True):
        assert _relative_error(value, expected) <= TOLERANCE[torch.float64]
    with torch.no_grad():  # no sigma' stored: the rule's placeholder output
        assert _relative_error(batched(drive, recurrent), want[0]) <= 1e-12
    assert calls == [4, 4]  # one launch per pass over the four models


def test_triton_sequence_offsets_do_not_overflow_int32():
    # 36 perturbed copies x 12,800 sequences x T = 100 x m = 64 values: the last
    # sequences start past 2**31, where int32 offsets wrap around
    _skip_without_triton_interpreter()
    from _triton_probes import sequence_starts

    first, length, m = 36 * 12_800 - 3, 100, 64
    out = torch.zeros(3, dtype=torch.int64)
    sequence_starts[(3,)](out, first, length, m)
    expected = [(first + i) * length * m for i in range(3)]
    assert expected[0] > 2**31
    assert out.tolist() == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("diagonal", [True, False])
def test_triton_on_gpu_matches_reference(diagonal, dtype):
    pytest.importorskip("triton")
    drive, recurrent, dt = _random_case(9, diagonal, dtype)
    drive, recurrent = drive.cuda(), recurrent.cuda()
    _assert_matches_reference(
        lambda d, w: euler_recurrence(d, w, dt, "tanh", backend="triton"),
        drive,
        recurrent,
        dt,
        "tanh",
        euler_recurrence_reference,
    )


# ---- dispatcher --------------------------------------------------------------------------


def test_available_backends_lists_always_available_paths():
    names = available_backends()
    assert {"auto", "reference", "scan"} <= set(names) <= set(BACKENDS)
    assert ("numba" in names) == (importlib.util.find_spec("numba") is not None)
    if "triton" in names:
        assert torch.cuda.is_available()


def test_auto_uses_a_fast_path_and_agrees_with_reference():
    drive, recurrent, dt = _random_case(10, False, torch.float64)
    expected = euler_recurrence_reference(drive, recurrent, dt, "tanh")
    assert _relative_error(euler_recurrence(drive, recurrent, dt), expected) <= 1e-10


def test_unknown_backend_lists_choices():
    drive, recurrent, dt = _random_case(11, True, torch.float64)
    with pytest.raises(ValueError, match="valid choices: auto, numba, reference, scan, triton"):
        euler_recurrence(drive, recurrent, dt, backend="cuda")


def test_unavailable_or_unsuitable_backend_raises():
    drive, recurrent, dt = _random_case(12, True, torch.float64)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="backend 'triton' is unavailable"):
            euler_recurrence(drive, recurrent, dt, backend="triton")
    with pytest.raises(ValueError, match="backend 'scan' needs activation='linear'"):
        euler_recurrence(drive, recurrent, dt, "tanh", backend="scan")
    if "numba" in available_backends():
        with pytest.raises(ValueError, match="float32/float64 CPU"):
            euler_recurrence(drive.half(), recurrent.half(), dt, backend="numba")


@pytest.mark.parametrize(
    ("drive_shape", "recurrent_shape", "message"),
    [
        ((2, 5), (3,), "drive must have shape"),
        ((2, 5, 3), (4,), "recurrent must have shape"),
        ((2, 5, 3), (3, 2), "recurrent must have shape"),
    ],
)
def test_bad_shapes_raise(drive_shape, recurrent_shape, message):
    with pytest.raises(ValueError, match=message):
        euler_recurrence(torch.zeros(drive_shape), torch.zeros(recurrent_shape), 0.1)


def test_bad_values_raise():
    drive = torch.zeros(1, 4, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype and device"):
        euler_recurrence(drive, torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match="dt must be a positive"):
        euler_recurrence(drive, torch.zeros(2, dtype=torch.float64), 0.0)
    drive[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="drive contains NaN"):
        euler_recurrence(drive, torch.zeros(2, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError, match="unknown activation"):
        euler_recurrence(drive, torch.zeros(2, dtype=torch.float64), 0.1, "sigmoid")


def test_numba_is_a_core_dependency():
    from importlib.metadata import requires

    core = [r for r in requires("curse-of-memory") if "extra ==" not in r]
    assert any(r.startswith("numba") for r in core), core


def test_unloadable_numba_falls_back_to_the_reference_loop_with_one_note(monkeypatch):
    import sys

    import curse_of_memory.kernels as kernels

    monkeypatch.setitem(sys.modules, "numba", None)  # "import numba" now raises ImportError
    kernels._numba_installed.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="numba.*reference loop"):
            assert "numba" not in available_backends()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the note is given once, not per call
            drive, recurrent, dt = _random_case(13, False, torch.float64)
            got = euler_recurrence(drive, recurrent, dt)
        expected = euler_recurrence_reference(drive, recurrent, dt, "tanh")
        assert _relative_error(got, expected) <= 1e-12
    finally:
        kernels._numba_installed.cache_clear()
