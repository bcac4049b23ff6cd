"""Backend ``"triton"``: fused GPU kernels (CUDA float32/float64 tensors, the ``triton`` package).

The forward and adjoint loops run in :mod:`curse_of_memory.kernels._triton_kernels`;
the recurrent-weight gradient is formed here from the saved states (one batched
product). Under ``torch.vmap`` (a batch of perturbed models) the vmapped dimension is
folded into the model axis, so the batch is one launch.
"""

from __future__ import annotations

import functools
import importlib.util

import torch
from torch.autograd.function import once_differentiable

from curse_of_memory.kernels._gradients import dense_weight_gradient, diagonal_weight_gradient
from curse_of_memory.kernels._transforms import fold_vmapped_dim, transform_of
from curse_of_memory.kernels.backends.base import Call, compiled_kernel_refusal, composed_layer
from curse_of_memory.kernels.reference import euler_recurrence_reference_models


@functools.cache
def unavailable() -> str | None:
    """Why the backend cannot run here: it needs the triton package and a CUDA device."""
    if importlib.util.find_spec("triton") is None:
        return "it needs the triton package (pip install triton)"
    if not torch.cuda.is_available():
        return "it needs a CUDA device"
    return None


def refusal(call: Call, automatic: bool) -> str | None:
    """Needs float32/float64 CUDA tensors, and no transform other than ``vmap``."""
    return compiled_kernel_refusal(call, "cuda")


class _TritonEulerRecurrence(torch.autograd.Function):
    """``apply(drive, recurrent, dt, activation)`` -> ``(states, derivative)``.

    ``drive`` ``(K, B, T, m)``, ``recurrent`` ``(K, m)`` or ``(K, m, m)``; states
    h_1..h_T ``(K, B, T, m)`` and sigma' (same shape, saved for the backward pass; a
    placeholder when no gradient is needed).
    """

    @staticmethod
    def forward(drive, recurrent, dt, activation):
        from curse_of_memory.kernels import _triton_kernels

        need_grad = drive.requires_grad or recurrent.requires_grad
        return _triton_kernels.run_forward(drive, recurrent, dt, activation, need_grad)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, recurrent, dt, _ = inputs
        states, derivative = output
        ctx.mark_non_differentiable(derivative)
        ctx.set_materialize_grads(False)  # no zero-filled gradient for the derivative output
        ctx.save_for_backward(states, derivative, recurrent)
        ctx.dt = dt

    @staticmethod
    def vmap(info, in_dims, drive, recurrent, dt, activation):
        size = info.batch_size
        drive = fold_vmapped_dim(drive, in_dims[0], size)
        recurrent = fold_vmapped_dim(recurrent, in_dims[1], size)
        if transform_of(drive, recurrent) != "none":  # nested transforms: plain torch loop
            states = euler_recurrence_reference_models(drive, recurrent, dt, activation)
            derivative = states.new_empty(0, 0, 0, 0)
        else:
            states, derivative = _TritonEulerRecurrence.apply(drive, recurrent, dt, activation)
        batched_states = states.reshape(size, -1, *states.shape[1:])
        if derivative.shape == states.shape:
            return (batched_states, derivative.reshape(batched_states.shape)), (0, 0)
        return (batched_states, derivative), (0, None)  # an unused placeholder

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_states, _grad_derivative):
        from curse_of_memory.kernels import _triton_kernels

        states, derivative, recurrent = ctx.saved_tensors
        if grad_states is None:  # the states did not reach the loss
            return None, None, None, None
        delta = _triton_kernels.run_backward(grad_states, derivative, recurrent, ctx.dt)
        grad_recurrent = None
        if ctx.needs_input_grad[1] and recurrent.dim() == 2:
            grad_recurrent = diagonal_weight_gradient(delta, states)
        elif ctx.needs_input_grad[1]:
            grad_recurrent = dense_weight_gradient(delta[:, :, :, None], states[:, :, :, None])
        grad_drive = delta if ctx.needs_input_grad[0] else None
        return grad_drive, grad_recurrent, None, None


def recurrence(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> torch.Tensor:
    """``(K, B, T, m)`` states from the Triton kernels."""
    states, _ = _TritonEulerRecurrence.apply(drive, recurrent, dt, activation)
    return states


layer = composed_layer(recurrence)
