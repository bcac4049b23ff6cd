"""Triton kernels (GPU) for the Euler recurrence and its adjoint, and their launchers.

One program per sequence (K * B programs); the hidden state (padded to a power of
two) lives in registers and the loop over time runs inside the kernel:

    h_{k+1} = h_k + dt * sigma(W h_k + drive_k),   h_0 = 0          (paper eq 3, Euler)

Dense W is held as one (M, M) register tile, so this suits the widths used here
(m up to ~128). The logic is tested on CPU under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from curse_of_memory.kernels.activations import ACTIVATION_CODES


@triton.jit
def _activation(z, CODE: tl.constexpr):
    """Return ``(sigma(z), sigma'(z))``; torch's conventions at the kinks."""
    if CODE == 1:
        # tanh via exp(-2|z|) (no overflow); tanh' = 1 - tanh^2
        e = tl.exp(-2.0 * tl.abs(z))
        t = (1.0 - e) / (1.0 + e)
        s = tl.where(z < 0, -t, t)
        ds = 1.0 - s * s
    elif CODE == 2:
        s = tl.minimum(tl.maximum(z, -1.0), 1.0)
        ds = tl.where((z > -1.0) & (z < 1.0), 1.0, 0.0)
    elif CODE == 3:
        s = tl.maximum(z, 0.0)
        ds = tl.where(z > 0.0, 1.0, 0.0)
    else:
        s = z
        ds = z * 0.0 + 1.0
    return s, ds


@triton.jit
def _sequence_start(sequence, length, m):
    """Offset of ``sequence``'s first value in a ``(K * B, T, m)`` array, in int64:
    K * B * T * m passes 2**31 at sizes in use (36 copies x 12,800 x 100 x 64)."""
    return sequence.to(tl.int64) * length * m


@triton.jit
def _program_start(
    weight_ptr, dt_ptr, batch, length, m, DIAGONAL: tl.constexpr, BLOCK_M: tl.constexpr
):
    """What a program of either kernel starts from: ``cols`` (hidden units, padded to
    BLOCK_M) and their mask ``valid``; its model's recurrent weights, the ``(BLOCK_M,)``
    diagonal or the ``(BLOCK_M, BLOCK_M)`` tile of W (W[i, j] at row i, column j), zero
    padded; dt; the offset of its sequence's first value."""
    sequence = tl.program_id(0)
    model = sequence // batch
    cols = tl.arange(0, BLOCK_M)
    valid = cols < m
    if DIAGONAL:
        weight = tl.load(weight_ptr + model * m + cols, mask=valid, other=0.0)
    else:
        tile = cols[:, None] * m + cols[None, :]
        tile_valid = valid[:, None] & valid[None, :]
        weight = tl.load(weight_ptr + model * m * m + tile, mask=tile_valid, other=0.0)
    dt = tl.load(dt_ptr)  # a 1-element tensor: keeps float64 dt exact
    return cols, valid, weight, dt, _sequence_start(sequence, length, m)


@triton.jit
def _forward_kernel(
    drive_ptr,
    weight_ptr,
    states_ptr,
    derivative_ptr,
    batch,
    length,
    m,
    dt_ptr,
    CODE: tl.constexpr,
    DIAGONAL: tl.constexpr,
    STORE_DERIVATIVE: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    cols, valid, weight, dt, base = _program_start(
        weight_ptr, dt_ptr, batch, length, m, DIAGONAL, BLOCK_M
    )
    h = tl.zeros([BLOCK_M], dtype=drive_ptr.dtype.element_ty)
    for k in range(length):
        offsets = base + k * m + cols
        drive = tl.load(drive_ptr + offsets, mask=valid, other=0.0)
        if DIAGONAL:
            pre = weight * h + drive
        else:
            pre = tl.sum(weight * h[None, :], axis=1) + drive
        s, ds = _activation(pre, CODE)
        h = h + dt * s
        tl.store(states_ptr + offsets, h, mask=valid)
        if STORE_DERIVATIVE:
            tl.store(derivative_ptr + offsets, ds, mask=valid)


@triton.jit
def _backward_kernel(
    grad_ptr,
    derivative_ptr,
    weight_ptr,
    grad_pre_ptr,
    batch,
    length,
    m,
    dt_ptr,
    DIAGONAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    cols, valid, weight, dt, base = _program_start(
        weight_ptr, dt_ptr, batch, length, m, DIAGONAL, BLOCK_M
    )
    g = tl.zeros([BLOCK_M], dtype=grad_ptr.dtype.element_ty)
    for step in range(length):
        offsets = base + (length - 1 - step) * m + cols
        g = g + tl.load(grad_ptr + offsets, mask=valid, other=0.0)
        delta = dt * tl.load(derivative_ptr + offsets, mask=valid, other=0.0) * g
        tl.store(grad_pre_ptr + offsets, delta, mask=valid)
        if DIAGONAL:
            g = g + weight * delta
        else:
            g = g + tl.sum(weight * delta[:, None], axis=0)  # W^T delta


def _dt_tensor(dt: float, like: torch.Tensor) -> torch.Tensor:
    """``dt`` as a 1-element tensor of ``like``'s dtype and device."""
    return torch.full((1,), dt, dtype=like.dtype, device=like.device)


def run_forward(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str, need_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """States ``(K, B, T, m)`` and sigma' (same shape, or a dummy if not ``need_grad``)."""
    drive = drive.detach().contiguous()
    n_models, batch, length, m = drive.shape
    states = torch.empty_like(drive)
    derivative = torch.empty_like(drive) if need_grad else drive.new_empty(1)
    _forward_kernel[(n_models * batch,)](
        drive,
        recurrent.detach().contiguous(),
        states,
        derivative,
        batch,
        length,
        m,
        _dt_tensor(dt, drive),
        CODE=ACTIVATION_CODES[activation],
        DIAGONAL=recurrent.dim() == 2,
        STORE_DERIVATIVE=need_grad,
        BLOCK_M=triton.next_power_of_2(m),
    )
    return states, derivative


def run_backward(
    grad_states: torch.Tensor, derivative: torch.Tensor, recurrent: torch.Tensor, dt: float
) -> torch.Tensor:
    """Gradient ``(K, B, T, m)`` w.r.t. the pre-activations (= w.r.t. ``drive``)."""
    grad_states = grad_states.contiguous()
    n_models, batch, length, m = grad_states.shape
    grad_pre = torch.empty_like(grad_states)
    _backward_kernel[(n_models * batch,)](
        grad_states,
        derivative,
        recurrent.detach().contiguous(),
        grad_pre,
        batch,
        length,
        m,
        _dt_tensor(dt, grad_states),
        DIAGONAL=recurrent.dim() == 2,
        BLOCK_M=triton.next_power_of_2(m),
    )
    return grad_pre
