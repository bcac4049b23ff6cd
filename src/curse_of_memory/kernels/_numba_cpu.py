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

from fractions import Fraction

import numba
import numpy as np
import torch

ACTIVATION_CODES = {"linear": 0, "tanh": 1, "hardtanh": 2, "relu": 3}


def _tanh_taylor_coefficients(count: int) -> tuple[float, ...]:
    """Coefficients c_n of tanh(y) = sum_n c_n y^(2n+1): 2^2k (2^2k - 1) B_2k / (2k)!."""
    # Bernoulli numbers B_0..B_2count by the Akiyama-Tanigawa algorithm (exact)
    size = 2 * count + 1
    bernoulli, row = [], [Fraction(0)] * (size + 1)
    for n in range(size + 1):
        row[n] = Fraction(1, n + 1)
        for j in range(n, 0, -1):
            row[j - 1] = j * (row[j - 1] - row[j])
        bernoulli.append(row[0])
    coefficients = []
    factorial = Fraction(1)
    for k in range(1, count + 1):
        factorial *= (2 * k - 1) * (2 * k)
        value = 4**k * (4**k - 1) * bernoulli[2 * k] / factorial
        coefficients.append(float(value))
    return tuple(coefficients)


# tanh(y) for |y| <= 20 / 128: the series converges like (2|y|/pi)^2 ~ 0.01 per term,
# so 10 terms reach float64 rounding.
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9 = _tanh_taylor_coefficients(10)


@numba.njit(inline="always", error_model="numpy")
def _tanh(z):
    """tanh without a libm call, so loops over it vectorise.

    tanh(z) rounds to +-1 for |z| >= 20; otherwise y = z / 128 goes through the
    Taylor series and seven doublings tanh(2y) = 2 tanh(y) / (1 + tanh(y)^2), kept
    as a fraction n / d (n' = 2 n d, d' = d^2 + n^2; d <= 2^127) so that only one
    division is needed. The doubling map has relative condition number <= 1, so
    the error stays a few ulp (float64 arithmetic throughout).
    """
    y = min(max(z, -20.0), 20.0) * 0.0078125
    y2 = y * y
    p = _C9
    p = p * y2 + _C8
    p = p * y2 + _C7
    p = p * y2 + _C6
    p = p * y2 + _C5
    p = p * y2 + _C4
    p = p * y2 + _C3
    p = p * y2 + _C2
    p = p * y2 + _C1
    p = p * y2 + _C0
    n, d = y * p, 1.0
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    n, d = 2.0 * n * d, d * d + n * n
    return n / d


# Sequences handled together by one dense-W loop iteration. The local state of a block
# is a (count, m) row-major matrix, so the coupling of a whole block is one small matrix
# product per step (numba's np.dot calls BLAS): per-sequence mat-vecs, or hand-written
# loops over a short block axis, do not vectorise (numba runs LLVM's SLP vectoriser off,
# and its loop vectoriser leaves trip counts below 64 scalar). The element-wise work
# (activation, Euler update) runs over the count * m contiguous entries of the block.
_BLOCK = 16


@numba.njit(inline="always", error_model="numpy")
def _activate(pre, code, sig, dsig):
    """``sig[i] = sigma(pre[i])``, ``dsig[i] = sigma'(pre[i])`` over 1-D arrays."""
    m = pre.shape[0]
    if code == 1:
        for i in range(m):
            s = _tanh(pre[i])
            sig[i] = s
            dsig[i] = 1.0 - s * s
    elif code == 2:
        for i in range(m):
            z = pre[i]
            inside = z > -1.0 and z < 1.0
            sig[i] = min(max(z, -1.0), 1.0)
            dsig[i] = 1.0 if inside else 0.0
    elif code == 3:
        for i in range(m):
            z = pre[i]
            sig[i] = max(z, 0.0)
            dsig[i] = 1.0 if z > 0.0 else 0.0
    else:
        for i in range(m):
            sig[i] = pre[i]
            dsig[i] = 1.0


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
        ``store_derivative`` (else untouched; may be a dummy array).
    """
    n_models, batch, length, m = drive.shape
    n_blocks = (batch + _BLOCK - 1) // _BLOCK
    for n in numba.prange(n_models * n_blocks):
        model = n // n_blocks
        first = (n % n_blocks) * _BLOCK
        count = min(_BLOCK, batch - first)  # the last block may be ragged
        size = count * m
        w_t = weight_t[model]
        h = np.zeros((count, m), dtype=drive.dtype)  # row b: state of sequence first + b
        sig = np.empty(size, dtype=drive.dtype)
        dsig = np.empty(size, dtype=drive.dtype)
        h_flat = h.reshape(size)
        for k in range(length):
            pre = np.dot(h, w_t)  # (count, m): row b is (W h_b)^T
            for b in range(count):
                drive_row = drive[model, first + b, k]
                for i in range(m):
                    pre[b, i] += drive_row[i]
            _activate(pre.reshape(size), code, sig, dsig)
            for e in range(size):  # SPEC eq 3, Euler
                h_flat[e] += dt * sig[e]
            # explicit loops: numba's slice assignment goes through a slow generic path
            for b in range(count):
                out = states[model, first + b, k]
                for i in range(m):
                    out[i] = h[b, i]
            if store_derivative:
                for b in range(count):
                    out = derivative[model, first + b, k]
                    for i in range(m):
                        out[i] = dsig[b * m + i]


@numba.njit(parallel=True, cache=True, error_model="numpy")
def forward_diagonal(drive, weight_diag, dt, code, states, derivative, store_derivative):
    """Forward pass, diagonal W given as ``weight_diag`` ``(K, m)``; see ``forward_dense``.

    One sequence per iteration: the loops run over the m contiguous hidden units.
    """
    n_models, batch, length, m = drive.shape
    for n in numba.prange(n_models * batch):
        model = n // batch
        row = n % batch
        lam = weight_diag[model]
        h = np.zeros(m, dtype=drive.dtype)
        pre = np.empty(m, dtype=drive.dtype)
        sig = np.empty(m, dtype=drive.dtype)
        dsig = np.empty(m, dtype=drive.dtype)
        for k in range(length):
            for i in range(m):
                pre[i] = lam[i] * h[i] + drive[model, row, k, i]
            _activate(pre, code, sig, dsig)
            out = states[model, row, k]
            for i in range(m):  # SPEC eq 3, Euler
                h[i] += dt * sig[i]
                out[i] = h[i]
            if store_derivative:
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
    derivative: ``(K, B, T, m)`` sigma' saved by the forward pass.
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
    for n in numba.prange(n_models * n_blocks):
        model = n // n_blocks
        block = n % n_blocks
        first = block * _BLOCK
        count = min(_BLOCK, batch - first)
        w = weight[model]
        g = np.zeros((count, m), dtype=grad_states.dtype)  # row b: dL/dh of sequence b
        delta = np.empty((count, m), dtype=grad_states.dtype)
        for k in range(length - 1, -1, -1):
            for b in range(count):
                row = first + b
                for i in range(m):
                    g[b, i] += grad_states[model, row, k, i]
                    delta[b, i] = dt * derivative[model, row, k, i] * g[b, i]
                    grad_pre[model, row, k, i] = delta[b, i]
            coupled = np.dot(delta, w)  # row b: (W^T delta_b)^T
            for b in range(count):
                for i in range(m):
                    g[b, i] += coupled[b, i]
        if need_weight_grad:
            # dL/dW = sum_{b, k >= 1} delta_{b,k} h_{b,k}^T: one product per sequence
            grad_w = np.zeros((m, m), dtype=grad_states.dtype)
            if length > 1:
                for b in range(count):
                    row = first + b
                    grad_w += np.dot(grad_pre[model, row, 1:].T, states[model, row, :-1])
            grad_weight_parts[model, block] = grad_w


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
    for n in numba.prange(n_models * batch):
        model = n // batch
        row = n % batch
        lam = weight_diag[model]
        g = np.zeros(m, dtype=grad_states.dtype)
        grad_lam = np.zeros(m, dtype=grad_states.dtype)
        for k in range(length - 1, -1, -1):
            out = grad_pre[model, row, k]
            for i in range(m):
                g[i] += grad_states[model, row, k, i]
                delta = dt * derivative[model, row, k, i] * g[i]
                out[i] = delta
                g[i] += lam[i] * delta
            if need_weight_grad and k > 0:
                previous = states[model, row, k - 1]
                for i in range(m):  # dL/dlambda_i = sum_k delta_{k,i} h_{k,i}
                    grad_lam[i] += out[i] * previous[i]
        if need_weight_grad:
            grad_weight_parts[model, row] = grad_lam


# ---- torch-facing engine used by curse_of_memory.kernels._fused -------------------------


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    """Zero-copy numpy view of a detached, contiguous CPU tensor."""
    return x.detach().contiguous().numpy()


def run_forward(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str, need_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """States ``(K, B, T, m)`` and sigma' (same shape, or a dummy if not ``need_grad``)."""
    drive_np = _as_numpy(drive)
    states = torch.empty(drive.shape, dtype=drive.dtype)  # fully overwritten
    derivative = torch.empty_like(states) if need_grad else states.new_empty(1, 1, 1, 1)
    scalar_dt = drive_np.dtype.type(dt)
    code = ACTIVATION_CODES[activation]
    if recurrent.dim() == 2:
        kernel, weight = forward_diagonal, _as_numpy(recurrent)
    else:
        kernel, weight = forward_dense, _as_numpy(recurrent.detach().transpose(1, 2))
    kernel(
        drive_np,
        weight,
        scalar_dt,
        code,
        states.numpy(),
        derivative.numpy(),
        need_grad,
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
    grad_np = _as_numpy(grad_states)
    n_models, batch, _, m = grad_states.shape
    grad_pre = torch.empty(grad_states.shape, dtype=grad_states.dtype)  # fully overwritten
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
        _as_numpy(states),
        _as_numpy(recurrent),
        grad_np.dtype.type(dt),
        grad_pre.numpy(),
        parts.numpy(),
    )
    return grad_pre, parts.sum(dim=1) if need_weight_grad else None
