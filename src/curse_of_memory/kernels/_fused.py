"""One torch.autograd.Function for every fused backend (numba on CPU, Triton on GPU).

An *engine* module provides two functions:

``run_forward(drive, recurrent, dt, activation, need_grad) -> (states, derivative)``
    states h_1..h_T ``(K, B, T, m)`` of the Euler recurrence (SPEC eq 3) and
    sigma'(W h_k + drive_k) (same shape; only needed when ``need_grad``);
and either

``run_backward_with_weight_grad(grad_states, derivative, states, recurrent, dt, need_w)``
    ``-> (grad_pre, grad_recurrent)``: the BPTT adjoint ``grad_pre_k = dt sigma'_k g_{k+1}``
    with ``g_k = grad_states_{k-1} + g_{k+1} + W^T grad_pre_k`` (it equals dL/d drive_k)
    and the recurrent-weight gradient ``dL/dW = sum_{b,t} grad_pre_{b,t} h_{b,t}^T``
    (h_{b,t}: the state *before* step t; only the diagonal for a diagonal W), computed
    inside the kernel (numba); or

``run_backward(grad_states, derivative, recurrent, dt) -> grad_pre``
    the adjoint only; the weight gradient is then formed here from the saved states
    (one batched matrix product; triton).
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch.autograd.function import once_differentiable


def previous_states(states: torch.Tensor) -> torch.Tensor:
    """``(K, B, T, m)`` states h_0..h_{T-1} (h_0 = 0) from h_1..h_T."""
    return torch.cat([torch.zeros_like(states[:, :, :1]), states[:, :, :-1]], dim=2)


class FusedEulerRecurrence(torch.autograd.Function):
    """Euler recurrence for K models with a hand-written BPTT backward.

    ``apply(drive, recurrent, dt, activation, engine)`` with ``drive`` ``(K, B, T, m)``
    and ``recurrent`` ``(K, m)`` (diagonal W) or ``(K, m, m)`` (dense W); returns
    ``(K, B, T, m)`` states h_1..h_T.
    """

    @staticmethod
    def forward(ctx, drive, recurrent, dt, activation, engine):  # noqa: D102
        need_grad = bool(ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        states, derivative = engine.run_forward(drive, recurrent, dt, activation, need_grad)
        if need_grad:
            ctx.save_for_backward(states, derivative, recurrent)
        ctx.dt = dt
        ctx.engine = engine
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states):  # noqa: D102
        states, derivative, recurrent = ctx.saved_tensors
        need_weight_grad = ctx.needs_input_grad[1]
        if hasattr(ctx.engine, "run_backward_with_weight_grad"):
            grad_pre, grad_recurrent = ctx.engine.run_backward_with_weight_grad(
                grad_states, derivative, states, recurrent, ctx.dt, need_weight_grad
            )
            grad_drive = grad_pre if ctx.needs_input_grad[0] else None
            return grad_drive, grad_recurrent, None, None, None
        grad_pre = ctx.engine.run_backward(grad_states, derivative, recurrent, ctx.dt)
        grad_recurrent = None
        if need_weight_grad:
            previous = previous_states(states)  # (K, B, T, m)
            if recurrent.dim() == 2:  # diagonal: dL/dlambda_i = sum delta_i h_i
                grad_recurrent = (grad_pre * previous).sum(dim=(1, 2))
            else:
                n_models, _, _, m = states.shape
                grad_recurrent = torch.bmm(
                    grad_pre.reshape(n_models, -1, m).transpose(1, 2),
                    previous.reshape(n_models, -1, m),
                )
        grad_drive = grad_pre if ctx.needs_input_grad[0] else None
        return grad_drive, grad_recurrent, None, None, None


def fused_euler_recurrence(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str,
    engine: ModuleType,
) -> torch.Tensor:
    """K-model Euler recurrence through ``engine`` (inputs already validated)."""
    return FusedEulerRecurrence.apply(drive, recurrent, dt, activation, engine)
