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

from curse_of_memory.kernels import _is_transformed
from curse_of_memory.kernels.reference import euler_recurrence_reference_models


def previous_states(states: torch.Tensor) -> torch.Tensor:
    """``(K, B, T, m)`` states h_0..h_{T-1} (h_0 = 0) from h_1..h_T."""
    return torch.cat([torch.zeros_like(states[:, :, :1]), states[:, :, :-1]], dim=2)


def fold_vmapped_dim(
    tensor: torch.Tensor, dim: int | None, size: int, models: int | None = None
) -> torch.Tensor:
    """``vmap`` physical tensor -> one leading model axis, ``(size * K, ...)``.

    The vmapped dimension ``dim`` moves to the front (an unbatched tensor is expanded
    to ``size``) and is merged with the model axis K that follows it. With ``models``,
    a model axis of 1 is first expanded to ``models`` (parameters shared by K layers).
    """
    tensor = tensor.movedim(dim, 0) if dim is not None else tensor.expand(size, *tensor.shape)
    if models is not None and tensor.shape[1] != models:
        tensor = tensor.expand(size, models, *tensor.shape[2:])
    return tensor.reshape(size * tensor.shape[1], *tensor.shape[2:])


class FusedEulerRecurrence(torch.autograd.Function):
    """Euler recurrence for K models with a hand-written BPTT backward.

    ``apply(drive, recurrent, dt, activation, engine)`` with ``drive`` ``(K, B, T, m)``
    and ``recurrent`` ``(K, m)`` (diagonal W) or ``(K, m, m)`` (dense W); returns
    ``(states, derivative)``: ``(K, B, T, m)`` states h_1..h_T and sigma' (saved for the
    backward pass; empty when not needed).

    Under ``torch.vmap`` (e.g. a batch of perturbed models) the vmapped dimension is
    folded into the model axis K, so the whole batch of models is one kernel call
    (:meth:`vmap`). Other transforms (``jvp``, forward-mode AD, ``grad``) have no rule
    here; :func:`curse_of_memory.kernels.euler_recurrence` sends them to the reference.
    """

    @staticmethod
    def forward(drive, recurrent, dt, activation, engine):  # noqa: D102
        need_grad = drive.requires_grad or recurrent.requires_grad
        return engine.run_forward(drive, recurrent, dt, activation, need_grad)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        _, recurrent, dt, _, engine = inputs
        states, derivative = output
        ctx.mark_non_differentiable(derivative)
        ctx.set_materialize_grads(False)  # no zero-filled gradient for the derivative output
        ctx.save_for_backward(states, derivative, recurrent)
        ctx.dt = dt
        ctx.engine = engine

    @staticmethod
    def vmap(info, in_dims, drive, recurrent, dt, activation, engine):  # noqa: D102
        size = info.batch_size
        drive = fold_vmapped_dim(drive, in_dims[0], size)
        recurrent = fold_vmapped_dim(recurrent, in_dims[1], size)
        if _is_transformed(drive, recurrent):  # nested transforms: plain torch loop
            states = euler_recurrence_reference_models(drive, recurrent, dt, activation)
            derivative = states.new_empty(0, 0, 0, 0)
        else:
            states, derivative = FusedEulerRecurrence.apply(
                drive, recurrent, dt, activation, engine
            )
        batched_states = states.reshape(size, -1, *states.shape[1:])
        if derivative.shape == states.shape:
            return (batched_states, derivative.reshape(batched_states.shape)), (0, 0)
        return (batched_states, derivative), (0, None)  # an unused placeholder

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, _grad_derivative):  # noqa: D102
        states, derivative, recurrent = ctx.saved_tensors
        if grad_states is None:  # the states did not reach the loss
            return None, None, None, None, None
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
    states, _ = FusedEulerRecurrence.apply(drive, recurrent, dt, activation, engine)
    return states
