"""A whole RNN layer ``x -> y`` (input map, Euler recurrence, readout) in one call.

    drive_k = U x_k + b,  h_{k+1} = h_k + dt sigma(W h_k + drive_k),  y_k = C h_{k+1} + d
                                                                  (SPEC eq 3, Euler, h_0 = 0)

:func:`euler_rnn_layer` is what :class:`~curse_of_memory.models.ContinuousRNN` calls.
With the ``numba`` backend (the ``auto`` choice for float32/float64 CPU tensors) the
layer runs as one autograd function over :mod:`._numba_layer`: the input map and
the readout's gradient are folded into the compiled loops, so one training step
does not materialise the ``(B, T, m)`` drive, the gradient w.r.t. the states, or
the small-inner-dimension matrix products torch would use for them. Every other
backend (and any functorch transform or forward-mode AD) runs the composition
``linear -> euler_recurrence -> linear``, which is also the reference the fused
path is tested against.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from curse_of_memory.kernels import (
    _is_transformed,
    _validated_backend,
    euler_recurrence,
    first_non_finite,
)
from curse_of_memory.kernels._buffers import empty_output


def _blocked(t: torch.Tensor, block: int) -> torch.Tensor:
    """``(B, T, c) -> (n_blocks, T, block, c)`` contiguous; padding rows are zero."""
    batch, length, features = t.shape
    n_blocks = -(-batch // block)
    padded = t.new_zeros(n_blocks * block, length, features)
    padded[:batch] = t
    return padded.view(n_blocks, block, length, features).transpose(1, 2).contiguous()


def _unblocked(t: torch.Tensor, batch: int) -> torch.Tensor:
    """``(n_blocks, T, block, c) -> (batch, T, c)`` (inverse of :func:`_blocked`)."""
    n_blocks, length, block, features = t.shape
    return t.transpose(1, 2).reshape(n_blocks * block, length, features)[:batch]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _recurrent_arrays(recurrent: torch.Tensor, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(diagonal (m,), dense (m, m))`` arrays for the kernels; the unused one is empty.

    ``transpose`` passes the dense W transposed (the forward multiplies rows by W^T).
    """
    dtype = _numpy(recurrent).dtype
    if recurrent.dim() == 1:
        return _numpy(recurrent), np.empty((0, 0), dtype=dtype)
    dense = recurrent.t() if transpose else recurrent
    return np.empty(0, dtype=dtype), _numpy(dense)


class _NumbaRNNLayer(torch.autograd.Function):
    """Fused CPU layer; ``apply(x, U, b, W, C, d, dt, activation)`` -> ``y (B, T, p)``.

    ``W`` is ``(m,)`` (diagonal) or ``(m, m)``; ``b``/``d`` are tensors (zeros when the
    model has no bias; their gradients are then simply not used).
    """

    @staticmethod
    def forward(ctx, x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation):  # noqa: D102
        from curse_of_memory.kernels import _numba_layer as engine
        from curse_of_memory.kernels._numba_cpu import ACTIVATION_CODES

        batch = x.shape[0]
        m = input_weight.shape[0]
        x_blocked = _blocked(x.detach(), engine.BLOCK)
        n_blocks, length = x_blocked.shape[:2]
        shape = (n_blocks, length, engine.BLOCK, m)
        states = empty_output(shape, x.dtype)
        need_grad = any(ctx.needs_input_grad[:6])
        # sigma' is needed by the backward pass, except for the linear activation (sigma' = 1)
        store_derivative = need_grad and activation != "linear"
        derivative = empty_output(shape, x.dtype) if store_derivative else x.new_empty(0, 0, 0, 0)
        engine.layer_forward(
            x_blocked.numpy(),
            _numpy(input_weight.t()),
            _numpy(input_bias),
            *_recurrent_arrays(recurrent, transpose=True),
            x_blocked.numpy().dtype.type(dt),
            ACTIVATION_CODES[activation],
            batch,
            states.numpy(),
            derivative.numpy(),
        )
        y = torch.addmm(readout_bias.detach(), states.view(-1, m), readout.detach().t())
        if need_grad:
            ctx.save_for_backward(x_blocked, states, derivative, input_weight, recurrent, readout)
        ctx.dt, ctx.batch = dt, batch
        return _unblocked(y.view(n_blocks, length, engine.BLOCK, -1), batch)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):  # noqa: D102
        from curse_of_memory.kernels import _numba_layer as engine

        x_blocked, states, derivative, input_weight, recurrent, readout = ctx.saved_tensors
        n_blocks, length, block, n_inputs = x_blocked.shape
        m = states.shape[-1]
        diagonal = recurrent.dim() == 1
        grad_y_blocked = _blocked(grad_y, block)
        delta = empty_output(tuple(states.shape), states.dtype)
        parts = {
            "input": x_blocked.new_empty(n_blocks, n_inputs, m),
            "bias": x_blocked.new_empty(n_blocks, m),
            "readout": x_blocked.new_empty(n_blocks, readout.shape[0], m),
            "diagonal": x_blocked.new_empty(n_blocks, m),
        }
        engine.layer_backward(
            grad_y_blocked.numpy(),
            x_blocked.numpy(),
            states.numpy(),
            derivative.numpy(),
            _numpy(readout),
            *_recurrent_arrays(recurrent, transpose=False),
            x_blocked.numpy().dtype.type(ctx.dt),
            ctx.batch,
            delta.numpy(),
            parts["input"].numpy(),
            parts["bias"].numpy(),
            parts["readout"].numpy(),
            parts["diagonal"].numpy(),
        )
        needs = ctx.needs_input_grad
        grad_x = grad_recurrent = None
        if needs[0]:  # dL/dx_k = U^T delta_k
            grad_x = _unblocked(delta @ input_weight.detach(), ctx.batch)
        if needs[3] and diagonal:
            grad_recurrent = parts["diagonal"].sum(0)
        elif needs[3]:  # dL/dW = sum_{k >= 1} delta_k h_k^T (h_k: the state before step k)
            later = delta[:, 1:].reshape(n_blocks, -1, m)  # per block: a view, no copy
            earlier = states[:, :-1].reshape(n_blocks, -1, m)
            grad_recurrent = torch.bmm(later.transpose(1, 2), earlier).sum(0)
        return (
            grad_x,
            parts["input"].sum(0).t() if needs[1] else None,
            parts["bias"].sum(0) if needs[2] else None,
            grad_recurrent,
            parts["readout"].sum(0) if needs[4] else None,
            grad_y.sum(dim=(0, 1)) if needs[5] else None,
            None,
            None,
        )


def _check_layer_shapes(
    x: torch.Tensor,
    input_weight: torch.Tensor,
    input_bias: torch.Tensor | None,
    readout: torch.Tensor,
    readout_bias: torch.Tensor | None,
) -> None:
    """Clear errors for mismatched layer parameters (before any work)."""
    for name, tensor in (
        ("x", x),
        ("input_weight", input_weight),
        ("readout", readout),
        ("input_bias", input_bias),
        ("readout_bias", readout_bias),
    ):
        if tensor is not None and not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if x.dim() != 3:
        raise ValueError(f"x must have shape (batch, T, d), got {tuple(x.shape)}")
    batch, length, n_inputs = x.shape
    if input_weight.dim() != 2 or input_weight.shape[1] != n_inputs:
        raise ValueError(
            f"input_weight must have shape (m, {n_inputs}) for x {tuple(x.shape)}, "
            f"got {tuple(input_weight.shape)}"
        )
    m = input_weight.shape[0]
    if readout.dim() != 2 or readout.shape[1] != m:
        raise ValueError(f"readout must have shape (p, {m}), got {tuple(readout.shape)}")
    expected = {"input_bias": (m,), "readout_bias": (readout.shape[0],)}
    for name, tensor in (("input_bias", input_bias), ("readout_bias", readout_bias)):
        if tensor is not None and tuple(tensor.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]}, got {tuple(tensor.shape)}")
    for name, tensor in (
        ("input_weight", input_weight),
        ("readout", readout),
        ("input_bias", input_bias),
        ("readout_bias", readout_bias),
    ):
        if tensor is not None and (tensor.dtype != x.dtype or tensor.device != x.device):
            raise TypeError(
                f"{name} ({tensor.dtype}, {tensor.device}) must have the dtype and device "
                f"of x ({x.dtype}, {x.device})"
            )


def euler_rnn_layer(
    x: torch.Tensor,
    input_weight: torch.Tensor,
    input_bias: torch.Tensor | None,
    recurrent: torch.Tensor,
    readout: torch.Tensor,
    readout_bias: torch.Tensor | None,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Outputs ``y_k = C h_{k+1} + d`` of the Euler RNN (SPEC eq 3) for inputs ``x``.

    Parameters
    ----------
    x: ``(batch, T, d)`` inputs.
    input_weight: ``(m, d)`` U; input_bias: ``(m,)`` b or ``None``.
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    readout: ``(p, m)`` C; readout_bias: ``(p,)`` d or ``None``.
    dt, activation, backend: as in :func:`curse_of_memory.kernels.euler_recurrence`.

    Returns ``(batch, T, p)``, differentiable w.r.t. every tensor argument.
    """
    _check_layer_shapes(x, input_weight, input_bias, readout, readout_bias)
    m = input_weight.shape[0]
    # recurrent/dt/activation/backend are checked as for euler_recurrence, with a
    # (1, 1, m) zero tensor standing in for the drive U x + b
    stand_in = x.new_zeros(1, 1, m)
    dt, resolved = _validated_backend(
        stand_in, recurrent, dt, activation, backend, False, check_finite=False
    )
    named = {"x": x, "input_weight": input_weight, "input_bias": input_bias}
    named |= {"recurrent": recurrent, "readout": readout, "readout_bias": readout_bias}
    given = {name: t for name, t in named.items() if t is not None}
    if resolved != "numba" or _is_transformed(*given.values()):
        drive = F.linear(x, input_weight, input_bias)
        states = euler_recurrence(drive, recurrent, dt, activation, backend)
        return F.linear(states, readout, readout_bias)
    bad = first_non_finite(given)
    if bad is not None:
        raise ValueError(f"{bad} contains NaN or infinite values")
    bias = input_bias if input_bias is not None else x.new_zeros(m)
    out_bias = readout_bias if readout_bias is not None else x.new_zeros(readout.shape[0])
    return _NumbaRNNLayer.apply(x, input_weight, bias, recurrent, readout, out_bias, dt, activation)
