"""Backend ``"numba"``: compiled CPU loops (float32/float64) with a hand-written backward.

One autograd function, :class:`_FusedLayers`, runs K layers (input map, Euler
recurrence, readout) through :mod:`curse_of_memory.kernels._numba_kernels`; a bare
recurrence is the layer with identity input and readout maps. For a layer the input
map, the readout and the readout's gradient are computed inside the loops, so the
``(B, T, m)`` drive and the gradient w.r.t. the states never exist as tensors, and
without a gradient the states are not stored either (a batch of perturbed copies then
needs memory for its outputs only). Under ``torch.vmap`` (a batch of perturbed or
independently seeded models) the vmapped dimension is folded into the model axis, so
the whole batch is one kernel call.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from curse_of_memory.kernels._buffers import as_numpy, empty_output
from curse_of_memory.kernels._gradients import dense_weight_gradient
from curse_of_memory.kernels._transforms import fold_vmapped_dim, transform_of
from curse_of_memory.kernels.activations import ACTIVATION_CODES
from curse_of_memory.kernels.backends.base import Call, compiled_kernel_refusal
from curse_of_memory.kernels.reference import euler_recurrence_reference_models

# Sequences advanced together by one parallel task (for dense W, and in the layer's
# blocked layout, see curse_of_memory.kernels._numba_kernels).
BLOCK_ROWS = 16


@functools.cache
def unavailable() -> str | None:
    """``None`` when numba imports; otherwise warn once that CPU calls use the slow loop.

    numba is a core dependency, but a platform without a numba build (or a numba that
    fails to load beside this numpy) should still run, on the reference loop.
    """
    try:
        import numba  # noqa: F401
    except ModuleNotFoundError:
        reason = "the numba package is not installed"
    except Exception as error:  # any import-time failure of a compiled extension
        reason = f"numba failed to load ({type(error).__name__}: {error})"
    else:
        return None
    warnings.warn(
        f"curse-of-memory: {reason}; CPU recurrences use the slower reference loop "
        "(pip install numba to enable the compiled kernels)",
        RuntimeWarning,
        stacklevel=2,
    )
    return reason


def refusal(call: Call, automatic: bool) -> str | None:
    """Needs float32/float64 CPU tensors, and no transform other than ``vmap``."""
    return compiled_kernel_refusal(call, "cpu")


def recurrence(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> torch.Tensor:
    """``(K, B, T, m)`` states: the fused layer with identity input and readout maps."""
    states, _, _ = _FusedLayers.apply(drive, None, None, recurrent, None, None, dt, activation)
    return states


def layer(
    x: torch.Tensor,
    input_weight: torch.Tensor,
    input_bias: torch.Tensor | None,
    recurrent: torch.Tensor,
    readout: torch.Tensor,
    readout_bias: torch.Tensor | None,
    dt: float,
    activation: str,
) -> torch.Tensor:
    """``(B, T, p)`` outputs of one layer, fused (see the module docstring)."""
    tensors = (x, input_weight, input_bias, recurrent, readout, readout_bias)
    if not torch.is_grad_enabled():  # e.g. evaluation: nothing is kept for a backward pass
        tensors = tuple(t.detach() if t is not None else None for t in tensors)
    with_model_axis = (t.unsqueeze(0) if t is not None else None for t in tensors)
    y, _, _ = _FusedLayers.apply(*with_model_axis, dt, activation)
    return y.squeeze(0)


# ---- layouts ---------------------------------------------------------------------------


def _blocked(t: torch.Tensor) -> torch.Tensor:
    """``(M, B, T, c) -> (M, slots, T, BLOCK_ROWS, c)`` contiguous; padding rows are zero."""
    models, batch, length, features = t.shape
    slots = -(-batch // BLOCK_ROWS)
    padded = t.new_zeros(models, slots * BLOCK_ROWS, length, features)
    padded[:, :batch] = t
    return padded.view(models, slots, BLOCK_ROWS, length, features).transpose(2, 3).contiguous()


def _unblocked(t: torch.Tensor, batch: int) -> torch.Tensor:
    """``(M, slots, T, R, c) -> (M, batch, T, c)``: inverse of :func:`_blocked` (R = 1: a view)."""
    models, slots, length, rows, features = t.shape
    if rows == 1:
        return t.view(models, slots, length, features)
    flat = t.transpose(2, 3).reshape(models, slots * rows, length, features)
    return flat[:, :batch]


def _to_layout(t: torch.Tensor, rows: int) -> torch.Tensor:
    """``(M, B, T, c)`` in the kernels' layout: a view with R = 1 (any strides), else blocked."""
    return t.unsqueeze(3) if rows == 1 else _blocked(t)


def _task_rows(rows: int, diagonal: bool) -> int:
    """Sequences per task: the block; with R = 1 one sequence for diagonal W, a block for dense."""
    return 1 if rows == 1 and diagonal else BLOCK_ROWS


# ---- arrays for the kernels ---------------------------------------------------------------


def _or_empty(t: torch.Tensor | None, empty_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``as_numpy(t)``, or a zero-size array of ``empty_shape`` for an absent tensor."""
    return as_numpy(t) if t is not None else np.empty(empty_shape, dtype=dtype)


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
    """Plain torch K-layer forward (``x`` ``(Kx, B, T, d)``; absent maps are identities)."""
    n_models = recurrent.shape[0]
    drive = x.expand(n_models, *x.shape[1:])
    if input_weight is not None:
        drive = torch.einsum("kbtd,kmd->kbtm", drive, input_weight)
    if input_bias is not None:
        drive = drive + input_bias[:, None, None, :]
    y = euler_recurrence_reference_models(drive, recurrent, dt, act)
    if readout is not None:
        y = torch.einsum("kbtm,kpm->kbtp", y, readout)
    if readout_bias is not None:
        y = y + readout_bias[:, None, None, :]
    return y


class _FusedLayers(torch.autograd.Function):
    """K fused CPU layers with their own weights (K = 1 for a single layer).

    ``apply(x, U, b, W, C, d, dt, activation)`` with ``x`` ``(Kx, B, T, d_in)`` (``Kx``
    is K, or 1 when every layer reads the same inputs), ``U (K, m, d_in)`` or ``None``
    (identity: x is the drive), ``b (K, m)`` or ``None``, ``W (K, m)`` (diagonal) or
    ``(K, m, m)``, ``C (K, p, m)`` or ``None`` (identity: y = h), ``d (K, p)`` or
    ``None``; returns ``(y, states, derivative)`` with ``y`` ``(K, B, T, p)``; the other
    two are saved for the backward pass, not differentiable, and empty when not needed.
    """

    @staticmethod
    def forward(x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation):
        from curse_of_memory.kernels import _numba_kernels

        n_models, batch, m = recurrent.shape[0], x.shape[1], recurrent.shape[-1]
        rows = 1 if input_weight is None else BLOCK_ROWS  # a given drive is not copied
        x_laid = _to_layout(x.detach().contiguous(), rows)
        slots, length = x_laid.shape[1:3]
        shape = (n_models, slots, length, rows, m)
        tensors = (x, input_weight, input_bias, recurrent, readout, readout_bias)
        need_grad = any(t is not None and t.requires_grad for t in tensors)
        empty = x.new_empty(0, 0, 0, 0, 0)
        # separate states only when y is not already the states (identity readout)
        states = empty_output(shape, x.dtype) if need_grad and readout is not None else empty
        # sigma' is needed by the backward pass, except for the linear activation (sigma' = 1)
        store_derivative = need_grad and activation != "linear"
        derivative = empty_output(shape, x.dtype) if store_derivative else empty
        n_outputs = m if readout is None else readout.shape[1]
        y = empty_output((*shape[:-1], n_outputs), x.dtype)
        x_np = x_laid.numpy()
        dtype = x_np.dtype
        input_t = input_weight.transpose(1, 2) if input_weight is not None else None
        _numba_kernels.layer_forward(
            x_np,
            _or_empty(input_t, (n_models, 0, m), dtype),
            _or_empty(input_bias, (n_models, 0), dtype),
            *_recurrent_arrays(recurrent, transpose=True),
            _or_empty(readout, (n_models, 0, m), dtype),
            _or_empty(readout_bias, (n_models, 0), dtype),
            dtype.type(dt),
            ACTIVATION_CODES[activation],
            batch,
            _task_rows(rows, recurrent.dim() == 2),
            y.numpy(),
            states.numpy(),
            derivative.numpy(),
        )
        return _unblocked(y, batch), states, derivative

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, input_weight, _, recurrent, readout, _, dt, _ = inputs
        y, states, derivative = output
        ctx.mark_non_differentiable(states, derivative)
        ctx.set_materialize_grads(False)  # no zero-filled gradients for states/derivative
        saved_states = y if readout is None else states  # identity readout: y holds them
        ctx.save_for_backward(x, saved_states, derivative, input_weight, recurrent, readout)
        ctx.dt = dt

    @staticmethod
    def vmap(
        info, in_dims, x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation
    ):
        size = info.batch_size
        recurrent_dim = in_dims[3]  # recurrent is (K, m) or (K, m, m) per vmapped item
        n_models = (
            recurrent.shape[0]
            if recurrent_dim is None
            else recurrent.movedim(recurrent_dim, 0).shape[1]
        )
        params = [
            fold_vmapped_dim(t, dim, size, n_models) if t is not None else None
            for t, dim in zip(
                (input_weight, input_bias, recurrent, readout, readout_bias),
                in_dims[1:6],
                strict=True,
            )
        ]
        shared_x = in_dims[0] is None and x.shape[0] == 1
        x = x if shared_x else fold_vmapped_dim(x, in_dims[0], size, n_models)
        if transform_of(x, *(t for t in params if t is not None)) != "none":  # nested: torch
            y = _reference_layers(x, *params, dt, activation)
            placeholder = y.new_empty(0)
            return (y.view(size, n_models, *y.shape[1:]), placeholder, placeholder), (0, None, None)
        y, states, derivative = _FusedLayers.apply(x, *params, dt, activation)
        outputs, out_dims = [y.view(size, n_models, *y.shape[1:])], [0]
        for saved in (states, derivative):  # empty placeholders when not needed
            batched = saved.numel() > 0 and saved.shape[0] == size * n_models
            outputs.append(saved.view(size, n_models, *saved.shape[1:]) if batched else saved)
            out_dims.append(0 if batched else None)
        return tuple(outputs), tuple(out_dims)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, _grad_states, _grad_derivative):
        from curse_of_memory.kernels import _numba_kernels

        x, states, derivative, input_weight, recurrent, readout = ctx.saved_tensors
        if grad_y is None:  # y did not reach the loss
            return (None,) * 8
        needs = ctx.needs_input_grad
        n_models, batch, m = recurrent.shape[0], x.shape[1], recurrent.shape[-1]
        rows = 1 if input_weight is None else BLOCK_ROWS
        diagonal = recurrent.dim() == 2
        task_rows = _task_rows(rows, diagonal)
        n_tasks = -(-batch // task_rows)
        x_laid = _to_layout(x.detach().contiguous(), rows)
        # any strides: e.g. the stride-0 gradient of ``y.sum()`` is read in place
        grad_laid = _to_layout(grad_y, rows)
        states_laid = _to_layout(states, rows) if readout is None else states
        delta = empty_output(tuple(states_laid.shape[:-1]) + (m,), x.dtype)
        n_inputs = x.shape[-1] if needs[1] else 0
        n_outputs = readout.shape[1] if needs[4] else 0
        parts = {
            "input": x.new_empty(n_models, n_tasks, n_inputs, m),
            "bias": x.new_empty(n_models, n_tasks, m if needs[2] else 0),
            "readout": x.new_empty(n_models, n_tasks, n_outputs, m),
            "diagonal": x.new_empty(n_models, n_tasks, m if needs[3] and diagonal else 0),
        }
        dtype = as_numpy(x[:0]).dtype
        _numba_kernels.layer_backward(
            grad_laid.detach().numpy(),
            x_laid.numpy(),
            states_laid.numpy(),
            derivative.numpy(),
            _or_empty(readout, (n_models, 0, m), dtype),
            *_recurrent_arrays(recurrent, transpose=False),
            dtype.type(ctx.dt),
            batch,
            task_rows,
            delta.numpy(),
            *(part.numpy() for part in parts.values()),
        )
        grad_x = grad_recurrent = None
        if needs[0] and input_weight is None:  # identity input map: dL/dx = delta
            grad_x = _unblocked(delta, batch)
        elif needs[0]:  # dL/dx_k = U^T delta_k, per model
            flat = torch.bmm(delta.view(n_models, -1, m), input_weight.detach())
            grad_x = _unblocked(flat.view(*delta.shape[:-1], -1), batch)
        if grad_x is not None and x.shape[0] != n_models:  # x shared by the K layers
            grad_x = grad_x.sum(0, keepdim=True)
        if needs[3] and diagonal:
            grad_recurrent = parts["diagonal"].sum(1)
        elif needs[3]:
            grad_recurrent = dense_weight_gradient(delta, states_laid)
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
