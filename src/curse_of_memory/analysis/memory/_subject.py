"""The measured model as a ``(batch, T, d) -> (batch, T, out)`` map: wrapping and checks."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any

import torch

from curse_of_memory._validation import check_positive_int
from curse_of_memory.targets.linear import LinearFunctional

SequenceMap = Callable[[torch.Tensor], torch.Tensor]


def resolve_input_dim(model: Any, input_dim: int | None) -> int:
    """Input channels d: ``input_dim`` if given (checked against the model), else inferred."""
    inferred = _infer_input_dim(model)
    if input_dim is None:
        if inferred is None:
            raise ValueError(
                f"input_dim could not be inferred from {type(model).__name__}; "
                "pass input_dim (number of input channels d)"
            )
        return inferred
    input_dim = check_positive_int("input_dim", input_dim)
    if inferred is not None and inferred != input_dim:
        raise ValueError(f"input_dim={input_dim} but the model expects {inferred} input channels")
    return input_dim


def _infer_input_dim(model: Any) -> int | None:
    """Input channels from well-known attributes; ``None`` when unknown."""
    for attr in ("input_dim", "input_size", "in_features"):
        value = getattr(model, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if isinstance(model, torch.nn.Module):
        for sub in model.modules():
            for attr in ("input_size", "in_features"):
                value = getattr(sub, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None


def as_sequence_map(model: Any, dt: float, dtype: torch.dtype) -> tuple[SequenceMap, torch.device]:
    """Wrap ``model`` as ``(batch, T, d) -> (batch, T, out)`` in ``dtype``; and its device."""
    device = torch.device("cpu")
    if isinstance(model, LinearFunctional):
        call: Callable[[torch.Tensor], Any] = lambda x: model(x, dt)  # noqa: E731
    elif isinstance(model, torch.nn.Module):
        tensors = itertools.chain(model.parameters(), model.buffers())
        first = next(tensors, None)
        if first is not None:
            device = first.device
        try:
            module = copy.deepcopy(model).to(dtype).eval()
        except Exception as err:  # copying a user model can fail in any way
            raise TypeError(f"could not copy the model to {dtype}: {err}") from err
        if isinstance(module, torch.nn.RNNBase) and not module.batch_first:
            call = lambda x: _first(module(x.transpose(0, 1))).transpose(0, 1)  # noqa: E731
        else:
            call = module
    else:
        call = model

    def fn(x: torch.Tensor) -> torch.Tensor:
        y = _first(call(x))
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"model output must be a torch.Tensor, got {type(y).__name__}")
        if y.dim() == 2:
            y = y.unsqueeze(-1)
        if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(
                f"model output must have shape (batch, T, out) = ({x.shape[0]}, {x.shape[1]}, "
                f"out) for input {tuple(x.shape)}, got {tuple(y.shape)}"
            )
        return y.to(dtype)

    return fn, device


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def zero_input_response(
    fn: SequenceMap, total: int, d: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Output for the zero input, ``(1, total, out)``; raises if it is not finite."""
    with torch.no_grad():
        zero_out = fn(torch.zeros(1, total, d, dtype=dtype, device=device))
    if not bool(torch.isfinite(zero_out).all()):
        raise ValueError(
            "model output for the zero input contains NaN or inf; memory functions need "
            "a model whose outputs are finite"
        )
    return zero_out


def check_causality(
    fn: SequenceMap, total: int, d: int, dtype: torch.dtype, device: torch.device, seed: int
) -> None:
    """Raise if outputs up to step k change when only inputs after k change.

    Also raises (with its own message) when the model's output for a standard normal
    input is not finite, which would make the comparison meaningless.
    """
    gen = torch.Generator().manual_seed(seed + 1)
    cut = total // 2
    x = torch.randn(2, total, d, generator=gen, dtype=torch.float64)
    x_alt = x.clone()
    x_alt[:, cut + 1 :] = torch.randn(2, total - cut - 1, d, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = fn(torch.cat([x, x_alt]).to(device=device, dtype=dtype))
    if not bool(torch.isfinite(y).all()):
        raise ValueError(
            "model output contains NaN or inf for a standard normal input; memory functions "
            "need a model whose outputs are finite"
        )
    before, before_alt = y[:2, : cut + 1], y[2:, : cut + 1]
    size = float(y.abs().max())
    gap = float((before - before_alt).abs().max())
    tol = 1e4 * torch.finfo(dtype).eps * max(size, 1e-300)
    if not math.isfinite(gap) or gap > tol:
        raise ValueError(
            f"model is not causal: changing inputs after step {cut} changed outputs at or "
            f"before step {cut} by up to {gap:.3g} (output scale {size:.3g}); memory functions "
            "are defined for causal models only (e.g. not bidirectional RNNs)"
        )
