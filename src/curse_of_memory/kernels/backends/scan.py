"""Backend ``"scan"``: chunked parallel scan, for the *linear, diagonal* recurrence only.

With sigma = identity and W = diag(lambda) the Euler step (paper eq 3) is a linear
recurrence per channel,

    h_{k+1} = a h_k + dt drive_k,    a = 1 + dt lambda,    h_0 = 0,

i.e. a causal convolution h_{k+1} = dt sum_{j<=k} a^{k-j} drive_j. It is evaluated
without a length-T sequential loop:

1. split time into C chunks of length L ~ sqrt(T) and solve every chunk from a
   zero state at once: L vectorised steps, each over all chunks of all sequences;
2. the true states at the chunk ends obey the same recurrence with coefficient
   a^L (T/L steps, solved by the same routine);
3. every step i of chunk c adds ``a^{i+1}`` times the state entering chunk c.

This is O(T) work in O(sqrt T) vectorised operations (instead of T for the
reference loop). Only powers a^n with 0 <= n <= L appear, never a^{-n}, so
a = 0 or a < 0 are fine. Within a chunk the arithmetic is the sequential loop's;
for |a| <= 1 every power is bounded by 1, so the result is as accurate as the
sequential loop (no FFT round-off spread over the whole sequence). For |a| > 1 the
recurrence itself grows like |a|^T; ``backend="auto"`` then declines the scan.

The backward pass is the same scan run backwards in time (the adjoint of a linear
recurrence is a linear recurrence with the same coefficient).
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from curse_of_memory.kernels._gradients import diagonal_weight_gradient
from curse_of_memory.kernels.backends.base import Call, composed_layer


def unavailable() -> str | None:
    """Always available (plain torch)."""
    return None


def refusal(call: Call, automatic: bool) -> str | None:
    """Needs a linear activation, diagonal W and no transform; under ``auto`` also
    ``|1 + dt lambda| <= 1`` (the powers a^n stay bounded)."""
    if call.activation != "linear" or not call.diagonal:
        return (
            "needs activation='linear' and a diagonal recurrent (m,) / (K, m); got "
            f"activation={call.activation!r} and recurrent of shape {tuple(call.recurrent.shape)}"
        )
    if call.transform != "none":
        return "has no rule for torch.vmap, jvp, forward-mode AD or torch.func.grad"
    if automatic and not is_stable(call.recurrent, call.dt):
        return "some |1 + dt lambda| > 1: the sequential loops are more accurate when it grows"
    return None


def is_stable(recurrent: torch.Tensor, dt: float) -> bool:
    """True when every per-channel coefficient satisfies ``|1 + dt lambda| <= 1``."""
    return bool((1.0 + dt * recurrent.detach()).abs().max() <= 1.0)


def _chunk_length(length: int) -> int:
    """Chunk length L ~ sqrt(T): L sequential steps inside chunks + T/L across them."""
    return max(1, math.isqrt(length - 1) + 1) if length > 1 else 1


def _linear_scan(coeff: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Solve ``y_t = coeff * y_{t-1} + inputs_t`` with ``y_{-1} = 0``.

    Parameters
    ----------
    coeff: ``(K, m)`` per-channel coefficients.
    inputs: ``(K, B, T, m)``; not modified.

    Returns
    -------
    ``(K, B, T, m)`` solution ``y_0..y_{T-1}`` (a new tensor).
    """
    n_models, batch, length, m = inputs.shape
    size = _chunk_length(length)
    n_chunks = -(-length // size)
    padded = n_chunks * size
    # a fresh (padded) copy that is updated in place below
    out = inputs.new_empty(n_models, batch, padded, m)
    out[:, :, :length] = inputs
    out[:, :, length:] = 0.0
    blocks = out.view(n_models, batch, n_chunks, size, m)  # (K, B, C, L, m)
    step_coeff = coeff[:, None, None, :]  # (K, 1, 1, m)
    # 1. all chunks at once, L sequential steps: chunk-local solutions
    for i in range(1, size):
        blocks[:, :, :, i].addcmul_(blocks[:, :, :, i - 1], step_coeff)
    if n_chunks > 1:
        # 2. true states at the chunk ends: same recurrence with coefficient a^L
        carried = _linear_scan(coeff**size, blocks[:, :, :, -1])  # (K, B, C, m)
        # 3. add a^{i+1} * (state entering chunk c) to every step of chunk c >= 1
        powers = torch.arange(1, size + 1, device=coeff.device, dtype=coeff.dtype)
        decay = coeff[:, None, :] ** powers[None, :, None]  # (K, L, m)
        blocks[:, :, 1:].addcmul_(decay[:, None, None], carried[:, :, :-1, None, :])
    return out[:, :, :length]


class _ScanEulerRecurrence(torch.autograd.Function):
    """Linear diagonal Euler recurrence for K models by chunked scan.

    ``apply(drive, recurrent, dt)`` with ``drive`` ``(K, B, T, m)`` and ``recurrent``
    ``(K, m)`` (diagonal of W); returns ``(K, B, T, m)`` states h_1..h_T.
    """

    @staticmethod
    def forward(ctx, drive, recurrent, dt):
        coeff = 1.0 + dt * recurrent.detach()  # (K, m)
        states = _linear_scan(coeff, dt * drive.detach())
        ctx.save_for_backward(states, coeff)
        ctx.dt = dt
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):
        states, coeff = ctx.saved_tensors
        # adjoint: s_k = grad_k + a s_{k+1}, run backwards in time; delta_k = dt s_k
        delta = ctx.dt * _linear_scan(coeff, grad_states.flip(2)).flip(2)
        grad_drive = delta if ctx.needs_input_grad[0] else None
        grad_recurrent = None
        if ctx.needs_input_grad[1]:
            grad_recurrent = diagonal_weight_gradient(delta, states)
        return grad_drive, grad_recurrent, None


def recurrence(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> torch.Tensor:
    """``(K, B, T, m)`` states of the linear diagonal recurrence (``activation`` is linear)."""
    return _ScanEulerRecurrence.apply(drive, recurrent, dt)


layer = composed_layer(recurrence)
