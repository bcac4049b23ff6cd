"""The fused RNN layer (input map + Euler recurrence + readout) against the torch reference."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from curse_of_memory.kernels import BACKENDS, available_backends, euler_rnn_layer
from curse_of_memory.kernels._buffers import HUGE_PAGE_THRESHOLD_BYTES, empty_output
from curse_of_memory.kernels.reference import euler_recurrence_reference
from curse_of_memory.models import ContinuousRNN

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
ACTIVATIONS = ("linear", "tanh", "hardtanh", "relu")


def _reference_layer(x, u, b, w, c, d, dt, activation):
    """Independent composition: torch linear -> plain torch loop -> torch linear."""
    states = euler_recurrence_reference(F.linear(x, u, b), w, dt, activation)
    return F.linear(states, c, d)


def _random_layer(seed, diagonal, dtype, with_bias=True):
    rng = np.random.default_rng(seed)
    batch, length, n_in, m, n_out = (
        int(v) for v in rng.integers((1, 1, 1, 1, 1), (40, 25, 4, 9, 4))
    )
    dt = float(rng.choice([0.05, 0.3, 1.0]))

    def tensor(*shape, scale=1.0):
        return torch.from_numpy(rng.normal(scale=scale, size=shape)).to(dtype)

    if diagonal:
        w = torch.from_numpy(-rng.uniform(0.0, 1.9 / dt, size=m)).to(dtype)
    else:
        w = tensor(m, m, scale=1 / np.sqrt(m)) - torch.eye(m, dtype=dtype)
    b = tensor(m) if with_bias else None
    d = tensor(n_out) if with_bias else None
    return [tensor(batch, length, n_in), tensor(m, n_in), b, w, tensor(n_out, m), d], dt


def _relative_error(value, expected):
    value, expected = value.detach().double(), expected.detach().double()
    scale = expected.abs().max().clamp_min(1e-30)
    return float((value - expected).abs().max() / scale)


def _outputs_and_grads(layer, args, upstream):
    leaves = [a.clone().requires_grad_(True) if a is not None else None for a in args]
    y = layer(*leaves)
    wrt = [a for a in leaves if a is not None]
    return [y.detach(), *torch.autograd.grad(y, wrt, upstream)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("diagonal", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numba_layer_matches_reference(seed, activation, diagonal, dtype):
    """Values and gradients w.r.t. x, U, b, W, C, d on random shapes (ragged blocks)."""
    pytest.importorskip("numba")
    args, dt = _random_layer(seed, diagonal, dtype, with_bias=seed != 2)
    upstream = torch.randn(
        args[0].shape[0],
        args[0].shape[1],
        args[4].shape[0],
        generator=torch.Generator().manual_seed(seed),
        dtype=torch.float64,
    ).to(dtype)
    got = _outputs_and_grads(
        lambda *a: euler_rnn_layer(*a, dt, activation, backend="numba"), args, upstream
    )
    want = _outputs_and_grads(lambda *a: _reference_layer(*a, dt, activation), args, upstream)
    for index, (value, expected) in enumerate(zip(got, want, strict=True)):
        assert value.shape == expected.shape and value.dtype == expected.dtype
        error = _relative_error(value, expected)
        assert error <= TOLERANCE[dtype], f"output/grad {index}: relative error {error:.2e}"


@pytest.mark.parametrize("blocks", [0, 1, 1.07, 2.07])
def test_numba_layer_block_edges(blocks):
    """One sequence, exactly one block, one past it, and a ragged third block."""
    pytest.importorskip("numba")
    batch = max(1, round(blocks * BACKENDS["numba"].BLOCK_ROWS))
    generator = torch.Generator().manual_seed(batch)
    m = 6
    args = [
        torch.randn(batch, 9, 2, dtype=torch.float64, generator=generator),
        torch.randn(m, 2, dtype=torch.float64, generator=generator),
        torch.randn(m, dtype=torch.float64, generator=generator),
        torch.randn(m, m, dtype=torch.float64, generator=generator) / 3 - torch.eye(m),
        torch.randn(2, m, dtype=torch.float64, generator=generator),
        torch.randn(2, dtype=torch.float64, generator=generator),
    ]
    upstream = torch.randn(batch, 9, 2, dtype=torch.float64, generator=generator)
    got = _outputs_and_grads(lambda *a: euler_rnn_layer(*a, 0.2, "tanh", "numba"), args, upstream)
    want = _outputs_and_grads(lambda *a: _reference_layer(*a, 0.2, "tanh"), args, upstream)
    for value, expected in zip(got, want, strict=True):
        assert _relative_error(value, expected) <= 1e-10


@pytest.mark.parametrize("diagonal", [True, False])
def test_numba_layer_gradcheck(diagonal):
    pytest.importorskip("numba")
    generator = torch.Generator().manual_seed(3)

    def leaf(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_(True)

    w = leaf(3) if diagonal else leaf(3, 3)
    args = (leaf(2, 5, 2), leaf(3, 2), leaf(3), w, leaf(2, 3), leaf(2))
    assert torch.autograd.gradcheck(
        lambda *a: euler_rnn_layer(*a, 0.3, "tanh", backend="numba"), args
    )


def test_model_forward_equals_readout_of_hidden_states():
    """ContinuousRNN.forward (fused layer on CPU) == readout(hidden_states(x)) (reference)."""
    torch.manual_seed(0)
    for structure in ("diagonal", "symmetric"):
        model = ContinuousRNN(
            hidden_size=7, input_size=2, output_size=3, structure=structure
        ).double()
        x = torch.randn(20, 11, 2, dtype=torch.float64)
        reference = ContinuousRNN.from_config({**model.config(), "backend": "reference"}).double()
        reference.load_state_dict(model.state_dict())
        fused_y = model(x)
        fused_grads = torch.autograd.grad(fused_y.square().sum(), list(model.parameters()))
        reference_y = reference.readout(reference.hidden_states(x))
        reference_grads = torch.autograd.grad(
            reference_y.square().sum(), list(reference.parameters())
        )
        assert _relative_error(fused_y, reference_y) <= 1e-12
        for got, want in zip(fused_grads, reference_grads, strict=True):
            assert _relative_error(got, want) <= 1e-10


@pytest.mark.parametrize("batched_x", [False, True])
@pytest.mark.parametrize("diagonal", [True, False])
def test_layer_under_vmap_is_one_fused_call_and_matches_reference(
    fused_layer_calls, batched_x, diagonal
):
    """A vmapped batch of layers (e.g. perturbed copies) runs as one K-model kernel call."""
    sizes = fused_layer_calls
    generator = torch.Generator().manual_seed(4)

    def randn(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=generator)

    models, m = 6, 4
    x = randn(models, 19, 5, 2) if batched_x else randn(19, 5, 2)
    w = -torch.rand(models, m, dtype=torch.float64, generator=generator)
    if not diagonal:
        w = randn(models, m, m) / 2 - torch.eye(m, dtype=torch.float64)
    args = [x, randn(models, m, 2), randn(models, m), w, randn(models, 3, m), randn(models, 3)]
    x_dim = 0 if batched_x else None

    def batched(*a):
        layer = lambda *one: euler_rnn_layer(*one, 0.5, "tanh")  # noqa: E731
        return torch.vmap(layer, in_dims=(x_dim, 0, 0, 0, 0, 0))(*a)

    def separate(*a):
        return torch.stack(
            [
                _reference_layer(
                    a[0][k] if batched_x else a[0], *(t[k] for t in a[1:]), 0.5, "tanh"
                )
                for k in range(models)
            ]
        )

    upstream = randn(models, 19, 5, 3)
    got = _outputs_and_grads(batched, args, upstream)
    want = _outputs_and_grads(separate, args, upstream)
    for index, (value, expected) in enumerate(zip(got, want, strict=True)):
        assert _relative_error(value, expected) <= 1e-10, f"output/grad {index}"
    assert sizes == [models]  # all six layers in one call


def test_layer_under_vmap_of_forward_ad_falls_back_to_torch(backend_calls):
    """vmap over jvp (no fused rule for forward-mode AD) still gives exact derivatives."""
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(4, 3, 5, 1, dtype=torch.float64, generator=generator)
    u, c = torch.randn(3, 1, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    w = -torch.rand(3, dtype=torch.float64)

    def directional(run):
        def one(xk):
            return torch.func.jvp(lambda v: run(v, u, None, w, c, None, 0.5, "tanh"), (xk,), (xk,))[
                1
            ]

        return one

    got = torch.vmap(directional(euler_rnn_layer))(x)
    assert backend_calls == ["reference.layer"]
    expected = torch.stack([directional(_reference_layer)(xk) for xk in x])
    assert _relative_error(got, expected) <= 1e-10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"u": torch.zeros(4, 2)}, "input_weight must have shape"),
        ({"c": torch.zeros(1, 5)}, "readout must have shape"),
        ({"b": torch.zeros(5)}, "input_bias must have shape"),
        ({"d": torch.zeros(2)}, "readout_bias must have shape"),
        ({"w": torch.zeros(5)}, "recurrent must have shape"),
        ({"x": torch.zeros(3, 5)}, "x must have shape"),
        ({"u": torch.zeros(4, 1, dtype=torch.float64)}, "must have the dtype"),
        ({"x": torch.full((3, 5, 1), float("nan"))}, "x contains NaN"),
        ({"c": torch.full((1, 4), float("inf"))}, "readout contains NaN"),
        ({"activation": "sigmoid"}, "activation"),
        ({"dt": -1.0}, "dt"),
    ],
)
def test_layer_bad_input_raises(change, message):
    args = {
        "x": torch.zeros(3, 5, 1),
        "u": torch.zeros(4, 1),
        "b": torch.zeros(4),
        "w": -torch.ones(4),
        "c": torch.zeros(1, 4),
        "d": torch.zeros(1),
        "dt": 0.1,
        "activation": "tanh",
    } | change
    with pytest.raises((ValueError, TypeError), match=message):
        euler_rnn_layer(
            args["x"],
            args["u"],
            args["b"],
            args["w"],
            args["c"],
            args["d"],
            args["dt"],
            args["activation"],
        )


def test_numba_grad_of_sum_reads_the_stride_zero_gradient_in_place(record_calls):
    """``states.sum()`` sends a stride-0 gradient; the kernel reads it without a copy."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_kernels, euler_recurrence

    strides = record_calls(_numba_kernels, "layer_backward", lambda grad_y, *rest: grad_y.strides)
    generator = torch.Generator().manual_seed(9)
    drive = torch.randn(3, 12, 4, dtype=torch.float64, generator=generator).requires_grad_(True)
    lam = -torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_(True)
    fast = torch.autograd.grad(
        euler_recurrence(drive, lam, 0.4, "linear", "numba").sum(), (drive, lam)
    )
    slow = torch.autograd.grad(
        euler_recurrence_reference(drive, lam, 0.4, "linear").sum(), (drive, lam)
    )
    for got, want in zip(fast, slow, strict=True):
        assert _relative_error(got, want) <= 1e-12
    assert len(strides) == 1 and all(stride == 0 for stride in strides[0])


def _vm_flags(address: int) -> list[str]:
    """VmFlags of the mapping of this process that contains ``address`` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                low, high = (int(bound, 16) for bound in first.split("-"))
                inside = low <= address < high
            elif inside and first == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping contains address {address:#x}")


@pytest.mark.skipif(
    not os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"),
    reason="transparent huge pages are a Linux feature this kernel lacks",
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_outputs_are_advised_for_huge_pages(dtype):
    """Outputs of at least HUGE_PAGE_THRESHOLD_BYTES come from a mapping advised for huge
    pages (VmFlags "hg"): a silent fallback to an ordinary allocation fails here."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    count = HUGE_PAGE_THRESHOLD_BYTES // itemsize + 3
    large = empty_output((count,), dtype)
    assert large.shape == (count,) and large.dtype == dtype and large.is_contiguous()
    assert "hg" in _vm_flags(large.data_ptr())
    large.fill_(2.5)  # writable, every element
    assert float(large.sum()) == 2.5 * count
    small = empty_output((5, 2), dtype)
    assert small.shape == (5, 2) and small.dtype == dtype and small.is_contiguous()


def test_layer_without_grad_keeps_no_states(numba_kernel_calls):
    """Under no_grad the kernel writes the outputs only (states/sigma' arrays are empty)."""
    model = ContinuousRNN(5, structure="dense", parametrization="direct").double()
    x = torch.randn(4, 6, 1, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
    assert [(call["states"], call["derivative"]) for call in numba_kernel_calls] == [(0, 0)]
    expected = model.readout(model.hidden_states(x))
    assert _relative_error(y, expected) <= 1e-12


@pytest.mark.parametrize("backend", ["auto", "reference", "scan"])
def test_layer_checks_finiteness_once_per_forward(record_calls, backend):
    from curse_of_memory.kernels import _checks

    checks = record_calls(_checks, "first_non_finite", lambda named: sorted(named))
    args, dt = _random_layer(5, True, torch.float64)
    euler_rnn_layer(*args, dt, "linear", backend)
    assert checks == [
        sorted(["x", "input_weight", "input_bias", "recurrent", "readout", "readout_bias"])
    ]


@pytest.mark.parametrize("backend", ["reference", "scan", "numba"])
def test_layer_without_biases_matches_reference_on_every_backend(backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not available")
    args, dt = _random_layer(6, True, torch.float64, with_bias=False)
    upstream = torch.randn(
        args[0].shape[0], args[0].shape[1], args[4].shape[0], dtype=torch.float64
    )
    got = _outputs_and_grads(lambda *a: euler_rnn_layer(*a, dt, "linear", backend), args, upstream)
    want = _outputs_and_grads(lambda *a: _reference_layer(*a, dt, "linear"), args, upstream)
    for value, expected in zip(got, want, strict=True):
        assert _relative_error(value, expected) <= 1e-10
