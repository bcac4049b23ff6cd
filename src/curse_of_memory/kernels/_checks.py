"""Argument checks of the public entry points, run once per call before any work.

Each check raises a one-line ``TypeError``/``ValueError`` naming the argument and what
was expected, and returns the :class:`~curse_of_memory.kernels.backends.Call` that
backends are chosen by.
"""

from __future__ import annotations

import torch

from curse_of_memory._validation import check_choice, check_positive_float
from curse_of_memory.kernels._transforms import transform_of
from curse_of_memory.kernels.activations import ACTIVATIONS
from curse_of_memory.kernels.backends import BACKENDS, Call

BACKEND_CHOICES = ("auto", *BACKENDS)


def first_non_finite(named: dict[str, torch.Tensor]) -> str | None:
    """Name of the first tensor with a NaN/inf entry, or None.

    One reduction over the sums of all tensors proves the common all-finite case with
    a few cheap ops; only when that total is not finite (a bad entry, or a sum that
    merely overflows) is each tensor inspected.
    """
    if not named:
        return None
    with torch.no_grad():
        sums = torch.stack([tensor.sum() for tensor in named.values()])
        if bool(torch.isfinite(sums.sum())):
            return None
        for name, tensor in named.items():
            if not bool(torch.isfinite(tensor).all()):
                return name
    return None


def _check_tensor(name: str, value: object, shape: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape}, got {type(value).__name__}")
    return value


def _check_finite(named: dict[str, torch.Tensor], transform: str) -> None:
    """Raise for NaN/inf entries (not under a transform: the values are not readable)."""
    if transform == "none":
        bad = first_non_finite(named)
        if bad is not None:
            raise ValueError(f"{bad} contains NaN or infinite values")


def _check_recurrent(recurrent: object, m: int, lead: tuple[int, ...], like: torch.Tensor) -> bool:
    """Check W for width ``m`` (model axes ``lead``), dtype/device of ``like``; True if diagonal."""
    diagonal_shape, dense_shape = (*lead, m), (*lead, m, m)
    recurrent = _check_tensor("recurrent", recurrent, f"{diagonal_shape} or {dense_shape}")
    if tuple(recurrent.shape) not in (diagonal_shape, dense_shape):
        raise ValueError(
            f"recurrent must have shape {diagonal_shape} (diagonal W) or {dense_shape} "
            f"(dense W) to match m = {m}, got {tuple(recurrent.shape)}"
        )
    if recurrent.dtype != like.dtype or recurrent.device != like.device:
        raise TypeError(
            f"recurrent ({recurrent.dtype}, {recurrent.device}) must have the dtype and "
            f"device of the inputs ({like.dtype}, {like.device})"
        )
    return tuple(recurrent.shape) == diagonal_shape


def _check_common(dt: object, activation: object, backend: object) -> float:
    check_choice("backend", backend, BACKEND_CHOICES)
    check_choice("activation", activation, ACTIVATIONS)
    return check_positive_float("dt", dt)


def check_recurrence(
    drive: object,
    recurrent: object,
    dt: object,
    activation: object,
    backend: object,
    model_axis: bool,
) -> Call:
    """Check the arguments of ``euler_recurrence`` (``model_axis``: the batched version)."""
    dt = _check_common(dt, activation, backend)
    lead = "(K, batch, T, m)" if model_axis else "(batch, T, m)"
    drive = _check_tensor("drive", drive, lead)
    if drive.dim() != (4 if model_axis else 3) or 0 in drive.shape[-2:]:
        raise ValueError(f"drive must have shape {lead} with T, m >= 1, got {tuple(drive.shape)}")
    if not drive.is_floating_point():
        raise TypeError(f"drive must be a floating-point tensor, got dtype {drive.dtype}")
    models = (drive.shape[0],) if model_axis else ()
    diagonal = _check_recurrent(recurrent, drive.shape[-1], models, drive)
    transform = transform_of(drive, recurrent)
    _check_finite({"recurrent": recurrent, "drive": drive}, transform)
    return Call(drive.device, drive.dtype, activation, dt, diagonal, recurrent, transform)


def check_layer(
    x: object,
    input_weight: object,
    input_bias: object,
    recurrent: object,
    readout: object,
    readout_bias: object,
    dt: object,
    activation: object,
    backend: object,
) -> Call:
    """Check the arguments of ``euler_rnn_layer``."""
    dt = _check_common(dt, activation, backend)
    x = _check_tensor("x", x, "(batch, T, d)")
    if x.dim() != 3 or 0 in x.shape[1:]:
        raise ValueError(f"x must have shape (batch, T, d) with T, d >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    n_inputs = x.shape[2]
    input_weight = _check_tensor("input_weight", input_weight, f"(m, {n_inputs})")
    if input_weight.dim() != 2 or input_weight.shape[1] != n_inputs or input_weight.shape[0] < 1:
        raise ValueError(
            f"input_weight must have shape (m, {n_inputs}) with m >= 1 for x {tuple(x.shape)}, "
            f"got {tuple(input_weight.shape)}"
        )
    m = input_weight.shape[0]
    readout = _check_tensor("readout", readout, f"(p, {m})")
    if readout.dim() != 2 or readout.shape[1] != m or readout.shape[0] < 1:
        raise ValueError(
            f"readout must have shape (p, {m}) with p >= 1, got {tuple(readout.shape)}"
        )
    named = {"x": x, "input_weight": input_weight, "readout": readout}
    biases = {"input_bias": (input_bias, m), "readout_bias": (readout_bias, readout.shape[0])}
    for name, (bias, size) in biases.items():
        if bias is None:
            continue
        expected = (size,)
        bias = _check_tensor(name, bias, str(expected))
        if tuple(bias.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(bias.shape)}")
        named[name] = bias
    for name, tensor in named.items():
        if tensor.dtype != x.dtype or tensor.device != x.device:
            raise TypeError(
                f"{name} ({tensor.dtype}, {tensor.device}) must have the dtype and device "
                f"of x ({x.dtype}, {x.device})"
            )
    diagonal = _check_recurrent(recurrent, m, (), x)
    named["recurrent"] = recurrent
    transform = transform_of(*named.values())
    _check_finite(named, transform)
    return Call(x.device, x.dtype, activation, dt, diagonal, recurrent, transform)
