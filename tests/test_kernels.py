"""Fast recurrence backends against the float64 torch reference loop (paper eq 3), and
the backend registry."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD

from curse_of_memory.kernels import (
    BACKEND_CHOICES,
    BACKENDS,
    available_backends,
    euler_recurrence,
    euler_recurrence_batched_models,
    explain_backend,
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


@pytest.mark.parametrize("blocks", [0, 1, 2.3])  # B = 1, one exact block, a ragged third
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_block_edges_match_reference(blocks, diagonal, dtype):
    """The dense kernels advance ``BLOCK_ROWS`` sequences per task: a single sequence,
    one exact block and a ragged last block; two models."""
    pytest.importorskip("numba")
    batch = max(1, int(blocks * BACKENDS["numba"].BLOCK_ROWS))
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


def test_numba_recurrence_is_the_fused_layer_with_identity_maps(numba_kernel_calls):
    """One compiled stack: a recurrence runs the layer loops, on its drive in place
    (one row per slot, no blocked copy), keeping sigma' but no separate states."""
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(17, False, torch.float64)
    euler_recurrence(drive, recurrent.requires_grad_(True), dt, "tanh", "numba")
    assert numba_kernel_calls == [
        {"models": 1, "rows": 1, "states": 0, "derivative": drive.numel()}
    ]


# ---- numba under torch.vmap (a batch of models = the kernels' model axis) --------------------


@pytest.mark.parametrize("shared_drive", [False, True])
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_vmap_over_models_is_one_numba_call_and_matches_reference(
    fused_layer_calls, shared_drive, diagonal, dtype
):
    pytest.importorskip("numba")
    calls = fused_layer_calls
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


def test_vmap_with_nested_jvp_and_grad_falls_back_correctly(backend_calls):
    """vmap(jvp(...)) and vmap(grad(...)) have no fused rule: auto runs the torch loop,
    which must be exact."""
    pytest.importorskip("numba")
    drive, recurrent, dt = _random_case(21, False, torch.float64, models=3)
    tangent = torch.ones_like(drive[0])

    def directional(d):
        return torch.func.jvp(lambda x: euler_recurrence(x, recurrent[0], dt), (d,), (tangent,))[1]

    def reference_directional(d):
        return torch.func.jvp(
            lambda x: euler_recurrence_reference(x, recurrent[0], dt), (d,), (tangent,)
        )[1]

    got = torch.vmap(directional)(drive)
    assert backend_calls == ["reference.recurrence"]
    expected = torch.stack([reference_directional(d) for d in drive])
    assert _relative_error(got, expected) <= 1e-10

    def grad_of(run):
        return torch.func.grad(lambda w: run(drive[0], w, dt).square().sum())

    batched = torch.vmap(grad_of(euler_recurrence))(recurrent)
    assert backend_calls == ["reference.recurrence"] * 2
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
    drive, recurrent, dt = _random_case(seed, diagonal, torch.float64, models=2)
    assert recurrent.shape[-1] == {8: 2, 22: 6}[seed]
    drive = drive[:, :2, :10]
    _assert_matches_reference(
        lambda d, w: BACKENDS["triton"].recurrence(d, w, dt, activation),
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
    from curse_of_memory.kernels import _triton_kernels

    calls = record_calls(_triton_kernels, "run_forward", lambda drive, *rest: drive.shape[0])
    drive, recurrent, dt = _random_case(22, diagonal, torch.float64, models=4)
    drive = drive[0, :, :10]  # (B, T, m), shared by the four models

    def one_model(d, w):
        return BACKENDS["triton"].recurrence(d[None], w[None], dt, "tanh")[0]

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


# ---- the registry and "auto" ----------------------------------------------------------------


def test_available_backends_lists_always_available_paths():
    names = available_backends()
    assert names[0] == "auto"
    assert {"auto", "reference", "scan"} <= set(names) <= set(BACKEND_CHOICES)
    assert ("numba" in names) == (importlib.util.find_spec("numba") is not None)
    if "triton" in names:
        assert torch.cuda.is_available()


def test_every_backend_implements_the_interface():
    for name, backend in BACKENDS.items():
        for function in ("unavailable", "refusal", "recurrence", "layer"):
            assert callable(getattr(backend, function, None)), f"{name}.{function}"
    assert list(BACKENDS)[-1] == "reference"  # auto's last resort runs everything


def test_auto_uses_numba_for_cpu_tensors_and_agrees_with_reference(backend_calls):
    if "numba" not in available_backends():
        pytest.skip("numba is not available")
    drive, recurrent, dt = _random_case(10, False, torch.float64)
    expected = euler_recurrence_reference(drive, recurrent, dt, "tanh")
    assert _relative_error(euler_recurrence(drive, recurrent, dt), expected) <= 1e-10
    assert backend_calls == ["numba.recurrence"]


@pytest.mark.parametrize(
    ("activation", "lam", "chosen"),
    [
        ("linear", -0.5, "scan"),  # |1 + dt lambda| = 0.95: the scan
        ("linear", 0.5, "reference"),  # |1 + dt lambda| = 1.05: the scan declines
        ("tanh", -0.5, "reference"),
    ],
)
def test_auto_without_a_fused_dtype_follows_the_preference_order(
    backend_calls, activation, lam, chosen
):
    """float16 on CPU: numba refuses (dtype), then the scan if it accepts, else the loop."""
    drive = torch.randn(2, 30, 3, generator=torch.Generator().manual_seed(0)).half()
    recurrent = torch.full((3,), lam, dtype=torch.float16)
    answers = explain_backend(drive, recurrent, 0.1, activation)
    assert "float32/float64 CPU" in answers["numba"]
    assert next(name for name, reason in answers.items() if reason is None) == chosen
    got = euler_recurrence(drive, recurrent, 0.1, activation)
    assert backend_calls == [f"{chosen}.recurrence"]
    expected = euler_recurrence_reference(drive.double(), recurrent.double(), 0.1, activation)
    assert _relative_error(got, expected) <= 5e-3  # float16 rounding


def test_explain_backend_gives_every_reason():
    drive, recurrent, dt = _random_case(14, False, torch.float64)
    answers = explain_backend(drive, recurrent, dt, "tanh")
    assert list(answers) == list(BACKENDS)
    assert answers["reference"] is None
    assert "activation='linear'" in answers["scan"]
    if not torch.cuda.is_available():
        assert "CUDA" in answers["triton"]
    batched = explain_backend(drive[None], recurrent[None], dt, "linear")  # (K, B, T, m)
    assert "diagonal recurrent" in batched["scan"]
    with pytest.raises(ValueError, match="dt must be a positive"):
        explain_backend(drive, recurrent, -1.0)


def test_auto_uses_the_loop_under_jvp_and_numba_under_vmap(backend_calls):
    if "numba" not in available_backends():
        pytest.skip("numba is not available")
    drive, recurrent, dt = _random_case(15, False, torch.float64, models=2)
    torch.func.jvp(lambda d: euler_recurrence(d, recurrent[0], dt), (drive[0],), (drive[0],))
    assert backend_calls == ["reference.recurrence"]
    torch.vmap(lambda d, w: euler_recurrence(d, w, dt))(drive, recurrent)
    assert backend_calls == ["reference.recurrence", "numba.recurrence"]


def test_a_forced_backend_that_cannot_run_says_why():
    drive, recurrent, dt = _random_case(12, True, torch.float64)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="backend 'triton' is unavailable: .*CUDA"):
            euler_recurrence(drive, recurrent, dt, backend="triton")
    with pytest.raises(ValueError, match="backend 'scan' cannot run this call: .*'linear'"):
        euler_recurrence(drive, recurrent, dt, "tanh", backend="scan")
    if "numba" in available_backends():
        with pytest.raises(ValueError, match="'numba' cannot run .*float32/float64 CPU"):
            euler_recurrence(drive.half(), recurrent.half(), dt, backend="numba")
        with pytest.raises(ValueError, match="'numba' cannot run .*forward-mode AD"):
            torch.func.jvp(
                lambda d: euler_recurrence(d, recurrent, dt, backend="numba"), (drive,), (drive,)
            )


def test_a_new_backend_is_one_registry_entry(monkeypatch, backend_calls):
    """A backend listed first in the registry is used by auto for the calls it accepts;
    its refusals are reported by explain_backend."""
    from curse_of_memory.kernels import dispatch
    from curse_of_memory.kernels.backends import reference

    ran = []

    def recurrence(drive, recurrent, dt, activation):
        ran.append(tuple(drive.shape))
        return euler_recurrence_reference_models(drive, recurrent, dt, activation)

    relu_only = types.SimpleNamespace(
        unavailable=lambda: None,
        refusal=lambda call, automatic: None if call.activation == "relu" else "only relu",
        recurrence=recurrence,
        layer=reference.layer,
    )
    usual_first = available_backends()[1]  # auto's first choice before the new entry
    monkeypatch.setattr(dispatch, "BACKENDS", {"relu_only": relu_only, **BACKENDS})
    drive, recurrent, dt = _random_case(16, True, torch.float64)
    expected = euler_recurrence_reference(drive, recurrent, dt, "relu")
    assert _relative_error(euler_recurrence(drive, recurrent, dt, "relu"), expected) <= 1e-12
    assert ran == [(1, *drive.shape)]
    assert explain_backend(drive, recurrent, dt, "tanh")["relu_only"] == "only relu"
    euler_recurrence(drive, recurrent, dt, "tanh")
    assert len(ran) == 1  # tanh went to the next backend that accepts it
    assert backend_calls == [f"{usual_first}.recurrence"]


def test_functorch_wrapper_detection_follows_torch():
    """The one place that reads torch's private functorch predicates: if a torch release
    changes them, this fails (instead of the kernels silently taking the wrong path)."""
    from curse_of_memory.kernels._transforms import functorch_wrapper, transform_of

    x = torch.randn(3, 2, dtype=torch.float64)
    seen = {}

    def probe(name):
        def record(t):
            seen[name] = (functorch_wrapper(t), transform_of(t))
            return t.sum()

        return record

    probe("plain")(x)
    torch.vmap(probe("vmap"))(x)
    torch.func.grad(probe("grad"))(x)
    torch.func.jvp(probe("jvp"), (x,), (x,))
    torch.vmap(torch.func.grad(probe("vmap of grad")))(x)
    with fwAD.dual_level():
        probe("forward AD")(fwAD.make_dual(x, torch.ones_like(x)))
    assert seen == {
        "plain": ("none", "none"),
        "vmap": ("vmap", "vmap"),
        "grad": ("other", "other"),
        "jvp": ("other", "other"),
        "vmap of grad": ("other", "other"),
        "forward AD": ("none", "other"),
    }


@pytest.mark.parametrize("rows", [1, 4])
@pytest.mark.parametrize("slots", [1, 3])
@pytest.mark.parametrize("length", [1, 5])
def test_dense_weight_gradient_matches_a_sum_over_pairs(rows, slots, length):
    """sum over sequences and t >= 1 of delta_t h_{t-1}^T, against explicit loops; the
    layout (K, slots, T, R, m) holds sequence s in row s % R of slot s // R."""
    from curse_of_memory.kernels._gradients import dense_weight_gradient

    rng = np.random.default_rng(rows * 100 + slots * 10 + length)
    n_models, m = 2, 3
    batch = slots * rows - (1 if rows > 1 else 0)  # a padding row when R > 1
    per_sequence = rng.normal(size=(2, n_models, batch, length, m))  # delta, states
    expected = np.zeros((n_models, m, m))
    for k, b, t in np.ndindex(n_models, batch, length):
        if t >= 1:
            expected[k] += np.outer(per_sequence[0, k, b, t], per_sequence[1, k, b, t - 1])
    laid = np.zeros((2, n_models, slots * rows, length, m))
    laid[:, :, :batch] = per_sequence
    laid = laid.reshape(2, n_models, slots, rows, length, m).transpose(0, 1, 2, 4, 3, 5)
    delta, states = (torch.from_numpy(np.ascontiguousarray(a)) for a in laid)
    np.testing.assert_allclose(dense_weight_gradient(delta, states).numpy(), expected, atol=1e-12)


# ---- argument checks ------------------------------------------------------------------------


def test_unknown_backend_lists_choices():
    drive, recurrent, dt = _random_case(11, True, torch.float64)
    with pytest.raises(ValueError, match="valid choices: auto, numba, reference, scan, triton"):
        euler_recurrence(drive, recurrent, dt, backend="cuda")


@pytest.mark.parametrize(
    ("drive_shape", "recurrent_shape", "message"),
    [
        ((2, 5), (3,), "drive must have shape"),
        ((2, 0, 3), (3,), r"drive must have shape \(batch, T, m\) with T, m >= 1"),
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


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_an_empty_batch_gives_empty_states(backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not available")
    drive = torch.zeros(0, 4, 3, dtype=torch.float64, requires_grad=True)
    states = euler_recurrence(drive, -torch.ones(3, 3, dtype=torch.float64), 0.1, "tanh", backend)
    assert states.shape == (0, 4, 3)
    (grad,) = torch.autograd.grad(states.sum(), drive)
    assert grad.shape == (0, 4, 3)


# ---- numba availability ---------------------------------------------------------------------


def test_numba_is_a_core_dependency():
    from importlib.metadata import requires

    core = [r for r in requires("curse-of-memory") if "extra ==" not in r]
    assert any(r.startswith("numba") for r in core), core


def test_unloadable_numba_falls_back_to_the_reference_loop_with_one_note(monkeypatch):
    numba_backend = BACKENDS["numba"]
    monkeypatch.setitem(sys.modules, "numba", None)  # "import numba" now raises ImportError
    numba_backend.unavailable.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="numba.*reference loop"):
            assert "numba" not in available_backends()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the note is given once, not per call
            drive, recurrent, dt = _random_case(13, False, torch.float64)
            got = euler_recurrence(drive, recurrent, dt)
            assert "numba" in explain_backend(drive, recurrent, dt)["numba"]
        expected = euler_recurrence_reference(drive, recurrent, dt, "tanh")
        assert _relative_error(got, expected) <= 1e-12
    finally:
        numba_backend.unavailable.cache_clear()


# ---- where compiled kernels are cached -------------------------------------------------------


def _probe_module(folder, name: str = "cached_probe"):
    """Import a fresh module from ``folder`` with one ``cached_njit`` function ``add_one``."""
    source = folder / f"{name}.py"
    source.write_text(
        "from curse_of_memory.kernels._numba_cache import cached_njit\n\n\n"
        "@cached_njit()\ndef add_one(x):\n    return x + 1\n"
    )
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cache_directory_respects_numba_cache_dir_then_the_user_cache(monkeypatch, tmp_path):
    numba = pytest.importorskip("numba")
    from curse_of_memory.kernels._numba_cache import cache_directory

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba_cache_dir"))
    assert cache_directory() == tmp_path / "numba_cache_dir"
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_directory() == tmp_path / "xdg" / "curse-of-memory" / "numba"
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert cache_directory() == tmp_path / "home" / ".cache" / "curse-of-memory" / "numba"


def test_compiled_code_is_cached_in_the_cache_directory_and_reused(monkeypatch, tmp_path):
    numba = pytest.importorskip("numba")
    cache = tmp_path / "cache"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(cache))
    source_folder = tmp_path / "source"
    source_folder.mkdir()
    first = _probe_module(source_folder)
    assert first.add_one(41) == 42
    assert first.add_one.stats.cache_misses and not first.add_one.stats.cache_hits
    written = sorted(path.suffix for path in cache.rglob("*") if path.is_file())
    assert written == [".nbc", ".nbi"]
    assert not list(source_folder.rglob("*.nb*"))  # nothing next to the source
    second = _probe_module(source_folder)  # a new process would do the same
    assert second.add_one(1) == 2
    assert second.add_one.stats.cache_hits and not second.add_one.stats.cache_misses


def test_the_kernels_are_cached_outside_the_package_folder():
    """numba's own cache=True would write into the package folder; the kernels use the
    user cache locator (this fails loudly if numba renames the internals it relies on)."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_kernels
    from curse_of_memory.kernels._numba_cache import UserCacheLocator, cache_directory

    package = Path(_numba_kernels.__file__).resolve().parent
    for kernel in (_numba_kernels.layer_forward, _numba_kernels.layer_backward):
        locator = kernel._cache._impl.locator
        assert isinstance(locator, UserCacheLocator)
        path = Path(locator.get_cache_path()).resolve()
        assert path.is_relative_to(cache_directory().resolve())
        assert not path.is_relative_to(package)


def test_the_cache_stamp_covers_every_kernel_source(monkeypatch, tmp_path):
    """Editing any numba module (a kernel inlines helpers from other files) invalidates
    the cached kernels; editing plain Python modules beside them does not."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_cache

    (tmp_path / "_numba_helpers.py").write_text("ONE = 1\n")
    (tmp_path / "_numba_kernel.py").write_text("def f(): pass\n")
    (tmp_path / "checks.py").write_text("def check(): pass\n")
    monkeypatch.setattr(_numba_cache, "_KERNELS_FOLDER", tmp_path)

    def digest_after(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        _numba_cache.sources_digest.cache_clear()
        return _numba_cache.sources_digest()

    try:
        before = digest_after("checks.py", "def check(): pass\n")
        assert digest_after("checks.py", "def check(): return 1\n") == before
        assert digest_after("_numba_helpers.py", "ONE = 2\n") != before
    finally:
        _numba_cache.sources_digest.cache_clear()


def test_an_unwritable_cache_folder_warns_and_still_runs(monkeypatch, tmp_path):
    numba = pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_cache

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(blocker / "cache"))  # cannot be made
    _numba_cache._warn_uncached.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="cannot write the numba cache folder"):
            module = _probe_module(tmp_path, "uncached_probe")
        assert module.add_one(2) == 3
    finally:
        _numba_cache._warn_uncached.cache_clear()
