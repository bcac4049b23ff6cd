"""Compiled CPU loops (numba) for the Euler recurrence and its BPTT adjoint.

All loops work on a stack of K models, each run on B sequences:

    h_{k+1} = h_k + dt * sigma(W h_k + drive_k),   h_0 = 0          (SPEC eq 3, Euler)

and are parallel (``prange``) over the K * B independent sequences (diagonal W) or
over blocks of ``_BLOCK`` sequences (dense W, see below). The backward kernels also
return the recurrent-weight gradient. ``fastmath`` is off so float64 results agree
with the torch reference to rounding; ``error_model="numpy"`` (IEEE division, no
ZeroDivisionError check) lets LLVM vectorise the element-wise loops.

Activation codes: 0 linear, 1 tanh, 2 hardtanh, 3 relu. Derivatives follow torch's
autograd conventions at the kinks (hardtanh' = 0 at +-1, relu' = 0 at 0).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from curse_of_memory.kernels._buffers import as_numpy, empty_output
from curse_of_memory.kernels._numba_math import fast_tanh

ACTIVATION_CODES = {"linear": 0, "tanh": 1, "hardtanh": 2, "relu": 3}

# Sequences handled together by one dense-W loop iteration. The local state of a block
# is a (count, m) row-major matrix, so the coupling of a whole block is one small matrix
# product per step (numba's np.dot calls BLAS): per-sequence mat-vecs, or hand-written
# loops over a short block axis, do not vectorise (numba runs LLVM's SLP vectoriser off,
# and its loop vectoriser leaves trip counts below 64 scalar). The element-wise work
# (activation, Euler update) runs over the count * m contiguous entries of the block.
_BLOCK = 16

# Vectorisation note: every inner loop below indexes 1-D views with a counter that
# starts at 0 (``for i in range(n): view[i]``). numba wraps negative indices, and with an
# offset index (``flat[base + i]``) LLVM cannot prove the index non-negative and keeps
# the loop scalar (measured 3-4x slower on a plain copy).


@numba.njit(inline="always", error_model="numpy")
def _activate(pre, code, sig, dsig):
    """``sig[i] = sigma(pre[i])`` and (except for linear) ``dsig[i] = sigma'(pre[i])``.

    1-D arrays of one dtype; the constants take that dtype so float32 stays float32.
    """
    m = pre.shape[0]
    one = pre.dtype.type(1.0)
    zero = pre.dtype.type(0.0)
    if code == 1:
        for i in range(m):
            s = fast_tanh(pre[i])
            sig[i] = s
            dsig[i] = one - s * s
    elif code == 2:
        for i in range(m):
            z = pre[i]
            sig[i] = min(max(z, -one), one)
            dsig[i] = one if (z > -one and z < one) else zero
    elif code == 3:
        for i in range(m):
            z = pre[i]
            sig[i] = max(z, zero)
            dsig[i] = one if z > zero else zero
    else:  # linear: sigma' = 1 is never stored
        for i in range(m):
            sig[i] = pre[i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def forward_dense(drive, weight_t, dt, code, states, derivative, store_derivative):
    """Forward pass, dense W, on blocks of up to ``_BLOCK`` sequences.

    Parameters
    ----------
    drive: ``(K, B, T, m)`` input drive.
    weight_t: ``(K, m, m)`` transposed recurrent matrices, ``weight_t[k, j, i] = W_k[i, j]``.
    dt: Euler step (same dtype as ``drive``).
    code: activation code.
    states: ``(K, B, T, m)`` output, filled with h_1..h_T.
    derivative: ``(K, B, T, m)`` output, filled with ``sigma'(W h_k + drive_k)`` when
        ``store_derivative`` (else untouched; may be a dummy array). Never stored for
        the linear activation (sigma' = 1).
    """
    n_models, batch, length, m = drive.shape
    n_blocks = (batch + _BLOCK - 1) // _BLOCK
    store = store_derivative and code != 0
    for n in numba.prange(n_models * n_blocks):
        model = n // n_blocks
        first = (n % n_blocks) * _BLOCK
        count = min(_BLOCK, batch - first)  # the last block may be ragged
        size = count * m
        w_t = weight_t[model]
        h = np.zeros((count, m), dtype=drive.dtype)  # row b: state of sequence first + b
        pre = np.empty((count, m), dtype=drive.dtype)
        sig = np.empty((count, m), dtype=drive.dtype)
        dsig = np.empty((count, m), dtype=drive.dtype)
        h_flat, pre_flat = h.reshape(size), pre.reshape(size)
        sig_flat, dsig_flat = sig.reshape(size), dsig.reshape(size)
        for k in range(length):
            np.dot(h, w_t, pre)  # row b: (W h_b)^T
            for b in range(count):
                source, target = drive[model, first + b, k], pre[b]
                for i in range(m):
                    target[i] += source[i]
            _activate(pre_flat, code, sig_flat, dsig_flat)
            for e in range(size):  # SPEC eq 3, Euler
                h_flat[e] += dt * sig_flat[e]
            # explicit loops: numba's slice assignment goes through a slow generic path
            for b in range(count):
                source, target = h[b], states[model, first + b, k]
                for i in range(m):
                    target[i] = source[i]
            if store:
                for b in range(count):
                    source, target = dsig[b], derivative[model, first + b, k]
                    for i in range(m):
                        target[i] = source[i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def forward_diagonal(drive, weight_diag, dt, code, states, derivative, store_derivative):
    """Forward pass, diagonal W given as ``weight_diag`` ``(K, m)``; see ``forward_dense``.

    One sequence per iteration: the loops run over the m contiguous hidden units.
    """
    n_models, batch, length, m = drive.shape
    store = store_derivative and code != 0
    for n in numba.prange(n_models * batch):
        model = n // batch
        row = n % batch
        lam = weight_diag[model]
        h = np.zeros(m, dtype=drive.dtype)
        pre = np.empty(m, dtype=drive.dtype)
        sig = np.empty(m, dtype=drive.dtype)
        dsig = np.empty(m, dtype=drive.dtype)
        for k in range(length):
            source = drive[model, row, k]
            for i in range(m):
                pre[i] = lam[i] * h[i] + source[i]
            _activate(pre, code, sig, dsig)
            out = states[model, row, k]
            for i in range(m):  # SPEC eq 3, Euler
                h[i] += dt * sig[i]
                out[i] = h[i]
            if store:
                out = derivative[model, row, k]
                for i in range(m):
                    out[i] = dsig[i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def backward_dense(grad_states, derivative, states, weight, dt, grad_pre, grad_weight_parts):
    """BPTT adjoint and recurrent-weight gradient, dense W, blocks of ``_BLOCK`` sequences.

    With ``g_{k+1} = dL/dh_{k+1}`` (total), ``delta_k = dt * sigma'_k * g_{k+1}`` and
    ``g_k = grad_states_{k-1} + g_{k+1} + W^T delta_k``. Writes ``delta`` (the gradient
    w.r.t. the pre-activation, which equals the gradient w.r.t. ``drive``) to ``grad_pre``
    and, per block, ``sum_{b, k} delta_{b,k} h_{b,k}^T`` (h_k: the state before step k,
    h_0 = 0) to ``grad_weight_parts``.

    Parameters
    ----------
    grad_states: ``(K, B, T, m)`` dL/dh_1..h_T from downstream.
    derivative: ``(K, B, T, m)`` sigma' saved by the forward pass, or an empty
        ``(0, 0, 0, 0)`` array for the linear activation (sigma' = 1).
    states: ``(K, B, T, m)`` h_1..h_T from the forward pass.
    weight: ``(K, m, m)`` recurrent matrices (row major, ``weight[k, i, j] = W_k[i, j]``).
    dt: Euler step.
    grad_pre: ``(K, B, T, m)`` output.
    grad_weight_parts: ``(K, n_blocks, m, m)`` output (per-block partial dL/dW_k), or a
        ``(K, 0, m, m)`` array to skip the weight gradient.
    """
    n_models, batch, length, m = grad_states.shape
    n_blocks = (batch + _BLOCK - 1) // _BLOCK
    need_weight_grad = grad_weight_parts.shape[1] > 0
    unit_derivative = derivative.shape[0] == 0
    for n in numba.prange(n_models * n_blocks):
        model = n // n_blocks
        block = n % n_blocks
        first = block * _BLOCK
        count = min(_BLOCK, batch - first)
        size = count * m
        w = weight[model]
        g = np.zeros((count, m), dtype=grad_states.dtype)  # row b: dL/dh of sequence b
        delta = np.empty((count, m), dtype=grad_states.dtype)
        coupled = np.empty((count, m), dtype=grad_states.dtype)
        g_flat, coupled_flat = g.reshape(size), coupled.reshape(size)
        for k in range(length - 1, -1, -1):
            for b in range(count):
                upstream, g_b, delta_b = grad_states[model, first + b, k], g[b], delta[b]
                out = grad_pre[model, first + b, k]
                if unit_derivative:
                    for i in range(m):
                        g_b[i] += upstream[i]
                        delta_b[i] = dt * g_b[i]
                        out[i] = delta_b[i]
                else:
                    slope = derivative[model, first + b, k]
                    for i in range(m):
                        g_b[i] += upstream[i]
                        delta_b[i] = dt * slope[i] * g_b[i]
                        out[i] = delta_b[i]
            np.dot(delta, w, coupled)  # row b: (W^T delta_b)^T
            for e in range(size):
                g_flat[e] += coupled_flat[e]
        if need_weight_grad:
            grad_weight_parts[model, block] = _block_weight_gradient(
                grad_pre[model, first : first + count], states[model, first : first + count]
            )


@numba.njit(inline="always", error_model="numpy")
def _block_weight_gradient(grad_pre, states):
    """``sum_{b, k >= 1} delta_{b,k} h_{b,k}^T`` for one block, ``(count, T, m)`` inputs.

    With the block flattened to ``(count * T, m)`` rows (row ``b T + k``), pairing row r
    of ``grad_pre`` with row r - 1 of ``states`` is one large product. It would also
    pair ``delta_{b,0}`` with the last state of the previous sequence (b >= 1), so those
    rows of ``grad_pre`` are set to zero for the product and restored afterwards.
    """
    count, length, m = grad_pre.shape
    grad_w = np.zeros((m, m), dtype=grad_pre.dtype)
    for b in range(count):
        grad_w += np.dot(grad_pre[b, 1:].T, states[b, :-1])
    return grad_w


@numba.njit(parallel=True, cache=True, error_model="numpy")
def backward_diagonal(
    grad_states, derivative, states, weight_diag, dt, grad_pre, grad_weight_parts
):
    """BPTT adjoint, diagonal W ``(K, m)``; see ``backward_dense``.

    One sequence per iteration; ``grad_weight_parts`` is ``(K, B, m)`` (per-sequence
    ``sum_k delta_k * h_k``) or ``(K, 0, m)`` to skip the weight gradient.
    """
    n_models, batch, length, m = grad_states.shape
    need_weight_grad = grad_weight_parts.shape[1] > 0
    unit_derivative = derivative.shape[0] == 0
    for n in numba.prange(n_models * batch):
        model = n // batch
        row = n % batch
        lam = weight_diag[model]
        g = np.zeros(m, dtype=grad_states.dtype)
        grad_lam = np.zeros(m, dtype=grad_states.dtype)
        for k in range(length - 1, -1, -1):
            upstream, out = grad_states[model, row, k], grad_pre[model, row, k]
            if unit_derivative:
                for i in range(m):
                    g[i] += upstream[i]
                    delta = dt * g[i]
                    out[i] = delta
                    g[i] += lam[i] * delta
            else:
                slope = derivative[model, row, k]
                for i in range(m):
                    g[i] += upstream[i]
                    delta = dt * slope[i] * g[i]
                    out[i] = delta
                    g[i] += lam[i] * delta
            if need_weight_grad and k > 0:
                previous = states[model, row, k - 1]
                for i in range(m):  # dL/dlambda_i = sum_k delta_{k,i} h_{k,i}
                    grad_lam[i] += out[i] * previous[i]
        if need_weight_grad:
            grad_weight_parts[model, row] = grad_lam


# ---- torch-facing engine used by curse_of_memory.kernels._fused -------------------------


def run_forward(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str, need_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """States ``(K, B, T, m)`` and sigma' (same shape; an empty ``(0, 0, 0, 0)`` tensor
    when not ``need_grad`` or for the linear activation, whose sigma' is 1)."""
    drive_np = as_numpy(drive)
    states = empty_output(drive.shape, drive.dtype)  # fully overwritten
    # sigma' is needed by the backward pass, except for the linear activation (sigma' = 1)
    store_derivative = need_grad and activation != "linear"
    if store_derivative:
        derivative = empty_output(drive.shape, drive.dtype)
    else:
        derivative = states.new_empty(0, 0, 0, 0)
    scalar_dt = drive_np.dtype.type(dt)
    code = ACTIVATION_CODES[activation]
    if recurrent.dim() == 2:
        kernel, weight = forward_diagonal, as_numpy(recurrent)
    else:
        kernel, weight = forward_dense, as_numpy(recurrent.detach().transpose(1, 2))
    kernel(
        drive_np,
        weight,
        scalar_dt,
        code,
        states.numpy(),
        derivative.numpy(),
        store_derivative,
    )
    return states, derivative


def run_backward_with_weight_grad(
    grad_states: torch.Tensor,
    derivative: torch.Tensor,
    states: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    need_weight_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gradients w.r.t. the pre-activations (= w.r.t. ``drive``) and w.r.t. ``recurrent``.

    Returns ``grad_pre`` ``(K, B, T, m)`` and ``dL/dW`` shaped like ``recurrent``
    (``(K, m)`` diagonal or ``(K, m, m)`` dense), or ``None`` if not ``need_weight_grad``.
    """
    # any strides: e.g. the stride-0 gradient of ``states.sum()`` is read in place
    # instead of being materialised (numba compiles a separate strided variant)
    grad_np = grad_states.detach().numpy()
    n_models, batch, _, m = grad_states.shape
    grad_pre = empty_output(grad_states.shape, grad_states.dtype)  # fully overwritten
    if recurrent.dim() == 2:
        kernel = backward_diagonal
        parts_shape = (n_models, batch if need_weight_grad else 0, m)
    else:
        kernel = backward_dense
        n_blocks = (batch + _BLOCK - 1) // _BLOCK
        parts_shape = (n_models, n_blocks if need_weight_grad else 0, m, m)
    parts = torch.empty(parts_shape, dtype=grad_states.dtype)  # every part is written
    kernel(
        grad_np,
        derivative.numpy(),
        as_numpy(states),
        as_numpy(recurrent),
        grad_np.dtype.type(dt),
        grad_pre.numpy(),
        parts.numpy(),
    )
    return grad_pre, parts.sum(dim=1) if need_weight_grad else None
