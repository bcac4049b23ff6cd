"""A whole RNN layer ``x -> y`` (input map, Euler recurrence, readout) in one call.

    drive_k = U x_k + b,  h_{k+1} = h_k + dt sigma(W h_k + drive_k),  y_k = C h_{k+1} + d
                                                                  (SPEC eq 3, Euler, h_0 = 0)

:func:`euler_rnn_layer` is what :class:`~curse_of_memory.models.ContinuousRNN` calls.
With the ``numba`` backend (the ``auto`` choice for float32/float64 CPU tensors) the
layer runs as one autograd function over :mod:`._numba_layer`: the input map, the
readout and the readout's gradient are folded into the compiled loops, so one
training step does not materialise the ``(B, T, m)`` drive, the gradient w.r.t. the
states, or the small-inner-dimension matrix products torch would use for them, and
without a gradient the states are not stored at all. Under ``torch.vmap`` (a batch of
perturbed copies of a model) the whole batch is one call with a model axis. Every
other backend (and ``jvp``, forward-mode AD or ``torch.func.grad``) runs the
composition ``linear -> euler_recurrence -> linear``, which is also the reference the
fused path is tested against.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from curse_of_memory.kernels import (
    _is_transformed,
    _only_vmapped,
    _validated_backend,
    euler_recurrence,
    first_non_finite,
)
from curse_of_memory.kernels._buffers import as_numpy, empty_output
from curse_of_memory.kernels._fused import fold_vmapped_dim
from curse_of_memory.kernels.reference import euler_recurrence_reference_models


def _blocked(t: torch.Tensor, block: int) -> torch.Tensor:
    """``(M, B, T, c) -> (M, n_blocks, T, block, c)`` contiguous; padding rows are zero."""
    models, batch, length, features = t.shape
    n_blocks = -(-batch // block)
    padded = t.new_zeros(models, n_blocks * block, length, features)
    padded[:, :batch] = t
    blocked = padded.view(models, n_blocks, block, length, features)
    return blocked.transpose(2, 3).contiguous()


def _unblocked(t: torch.Tensor, batch: int) -> torch.Tensor:
    """``(M, n_blocks, T, block, c) -> (M, batch, T, c)`` (inverse of :func:`_blocked`)."""
    models, n_blocks, length, block, features = t.shape
    flat = t.transpose(2, 3).reshape(models, n_blocks * block, length, features)
    return flat[:, :batch]


def _recurrent_arrays(recurrent: torch.Tensor, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(diagonals (K, m), dense (K, m, m))`` arrays for the kernels; the unused one is
    ``(K, 0)`` / ``(K, 0, 0)``. ``transpose`` passes every dense W_k transposed."""
    dtype = as_numpy(recurrent[:0]).dtype
    n_models = recurrent.shape[0]
    if recurrent.dim() == 2:
        return as_numpy(recurrent), np.empty((n_models, 0, 0), dtype=dtype)
    dense = recurrent.transpose(1, 2) if transpose else recurrent
    return np.empty((n_models, 0), dtype=dtype), as_numpy(dense)


def _reference_layers(x, input_weight, input_bias, recurrent, readout, readout_bias, dt, act):
    """Plain torch K-layer forward (``x`` ``(Kx, B, T, d)``, parameters with a model axis)."""
    inputs = x.expand(input_weight.shape[0], *x.shape[1:])
    drive = torch.einsum("kbtd,kmd->kbtm", inputs, input_weight) + input_bias[:, None, None, :]
    states = euler_recurrence_reference_models(drive, recurrent, dt, act)
    return torch.einsum("kbtm,kpm->kbtp", states, readout) + readout_bias[:, None, None, :]


class _NumbaRNNLayers(torch.autograd.Function):
    """K fused CPU layers with their own weights (one for a single layer).

    ``apply(x, U, b, W, C, d, dt, activation)`` with ``x`` ``(Kx, B, T, d_in)`` (``Kx``
    is K, or 1 when every layer reads the same inputs), ``U (K, m, d_in)``, ``b (K, m)``,
    ``W (K, m)`` (diagonal) or ``(K, m, m)``, ``C (K, p, m)``, ``d (K, p)``; returns
    ``(y, states, derivative)`` with ``y`` ``(K, B, T, p)``; the other two are saved for
    the backward pass, not differentiable, and empty when no input requires a gradient.
    Under ``torch.vmap`` the vmapped dimension is folded into K (:meth:`vmap`): a batch of
    perturbed models is one call.
    """

    @staticmethod
    def forward(x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation):  # noqa: D102
        from curse_of_memory.kernels import _numba_layer as engine
        from curse_of_memory.kernels._numba_cpu import ACTIVATION_CODES

        n_models, m = input_bias.shape
        batch = x.shape[1]
        x_blocked = _blocked(x.detach(), engine.BLOCK)
        n_blocks, length = x_blocked.shape[1:3]
        shape = (n_models, n_blocks, length, engine.BLOCK, m)
        tensors = (x, input_weight, input_bias, recurrent, readout, readout_bias)
        need_grad = any(t.requires_grad for t in tensors)
        empty = x.new_empty(0, 0, 0, 0, 0)
        states = empty_output(shape, x.dtype) if need_grad else empty
        # sigma' is needed by the backward pass, except for the linear activation (sigma' = 1)
        store_derivative = need_grad and activation != "linear"
        derivative = empty_output(shape, x.dtype) if store_derivative else empty
        y = empty_output((*shape[:-1], readout.shape[1]), x.dtype)
        engine.layer_forward(
            x_blocked.numpy(),
            as_numpy(input_weight.transpose(1, 2)),
            as_numpy(input_bias),
            *_recurrent_arrays(recurrent, transpose=True),
            as_numpy(readout),
            as_numpy(readout_bias),
            x_blocked.numpy().dtype.type(dt),
            ACTIVATION_CODES[activation],
            batch,
            y.numpy(),
            states.numpy(),
            derivative.numpy(),
        )
        y = _unblocked(y, batch)
        return y, states, derivative

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        x, input_weight, _, recurrent, readout, _, dt, _ = inputs
        _, states, derivative = output
        ctx.mark_non_differentiable(states, derivative)
        ctx.set_materialize_grads(False)  # no zero-filled gradients for states/derivative
        ctx.save_for_backward(x, states, derivative, input_weight, recurrent, readout)
        ctx.dt = dt

    @staticmethod
    def vmap(
        info, in_dims, x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation
    ):  # noqa: D102
        size = info.batch_size
        bias_dim = in_dims[2]  # input_bias is (K, m) per vmapped item
        n_models = (
            input_bias.shape[0] if bias_dim is None else input_bias.movedim(bias_dim, 0).shape[1]
        )
        params = [
            fold_vmapped_dim(t, dim, size, n_models)
            for t, dim in zip(
                (input_weight, input_bias, recurrent, readout, readout_bias),
                in_dims[1:6],
                strict=True,
            )
        ]
        shared_x = in_dims[0] is None and x.shape[0] == 1
        x = x if shared_x else fold_vmapped_dim(x, in_dims[0], size, n_models)
        if _is_transformed(x, *params):  # nested transforms: plain torch
            y = _reference_layers(x, *params, dt, activation)
            placeholder = y.new_empty(0)
            return (y.view(size, n_models, *y.shape[1:]), placeholder, placeholder), (0, None, None)
        y, states, derivative = _NumbaRNNLayers.apply(x, *params, dt, activation)
        outputs, out_dims = [y.view(size, n_models, *y.shape[1:])], [0]
        for saved in (states, derivative):  # empty placeholders when not needed
            batched = saved.numel() > 0 and saved.shape[0] == size * n_models
            outputs.append(saved.view(size, n_models, *saved.shape[1:]) if batched else saved)
            out_dims.append(0 if batched else None)
        return tuple(outputs), tuple(out_dims)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_states, _grad_derivative):  # noqa: D102
        from curse_of_memory.kernels import _numba_layer as engine

        x, states, derivative, input_weight, recurrent, readout = ctx.saved_tensors
        if grad_y is None:  # y did not reach the loss
            return (None,) * 8
        n_models, n_blocks, length, block, m = states.shape
        n_inputs, batch = x.shape[-1], x.shape[1]
        x_blocked = _blocked(x.detach(), block)
        grad_y_blocked = _blocked(grad_y, block)
        delta = empty_output(tuple(states.shape), states.dtype)
        parts = {
            "input": x.new_empty(n_models, n_blocks, n_inputs, m),
            "bias": x.new_empty(n_models, n_blocks, m),
            "readout": x.new_empty(n_models, n_blocks, readout.shape[1], m),
            "diagonal": x.new_empty(n_models, n_blocks, m),
        }
        engine.layer_backward(
            grad_y_blocked.numpy(),
            x_blocked.numpy(),
            states.numpy(),
            derivative.numpy(),
            as_numpy(readout),
            *_recurrent_arrays(recurrent, transpose=False),
            x_blocked.numpy().dtype.type(ctx.dt),
            batch,
            delta.numpy(),
            *(part.numpy() for part in parts.values()),
        )
        needs = ctx.needs_input_grad
        grad_x = grad_recurrent = None
        if needs[0]:  # dL/dx_k = U^T delta_k, per model; summed over models for shared x
            flat = torch.bmm(delta.view(n_models, -1, m), input_weight.detach())
            grad_x = _unblocked(flat.view(n_models, n_blocks, length, block, n_inputs), batch)
            if x.shape[0] != n_models:
                grad_x = grad_x.sum(0, keepdim=True)
        if needs[3] and recurrent.dim() == 2:
            grad_recurrent = parts["diagonal"].sum(1)
        elif needs[3]:  # dL/dW = sum_{k >= 1} delta_k h_k^T (h_k: the state before step k)
            later = delta[:, :, 1:].reshape(n_models * n_blocks, -1, m)  # a view, no copy
            earlier = states[:, :, :-1].reshape(n_models * n_blocks, -1, m)
            products = torch.bmm(later.transpose(1, 2), earlier)
            grad_recurrent = products.view(n_models, n_blocks, m, m).sum(1)
        return (
            grad_x,
            parts["input"].sum(1).transpose(1, 2) if needs[1] else None,
            parts["bias"].sum(1) if needs[2] else None,
            grad_recurrent,
            parts["readout"].sum(1) if needs[4] else None,
            grad_y.sum(dim=(1, 2)) if needs[5] else None,
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
    transformed = _is_transformed(*given.values())
    if resolved != "numba" or (transformed and not _only_vmapped(*given.values())):
        drive = F.linear(x, input_weight, input_bias)
        states = euler_recurrence(drive, recurrent, dt, activation, backend)
        return F.linear(states, readout, readout_bias)
    if not transformed:  # data-dependent: not possible on vmapped tensors
        bad = first_non_finite(given)
        if bad is not None:
            raise ValueError(f"{bad} contains NaN or infinite values")
    bias = input_bias if input_bias is not None else x.new_zeros(m)
    out_bias = readout_bias if readout_bias is not None else x.new_zeros(readout.shape[0])
    stacked = (x, input_weight, bias, recurrent, readout, out_bias)
    if not torch.is_grad_enabled():  # e.g. evaluation: nothing is kept for a backward pass
        stacked = tuple(t.detach() for t in stacked)
    y, _, _ = _NumbaRNNLayers.apply(*(t[None] for t in stacked), dt, activation)
    return y.squeeze(0)
