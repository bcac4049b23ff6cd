"""Checks and helpers shared by the model classes."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from curse_of_memory._validation import check_sequence_tensor


def check_flag(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool``; else raise naming the argument."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def check_model_input(x: Any, input_size: int, model: nn.Module) -> torch.Tensor:
    """Validate a model input ``(batch, T, input_size)`` against the model's dtype and device.

    Returns the input as a tensor (numpy arrays are converted).
    """
    x = check_sequence_tensor("x", x, input_dim=input_size)
    if x.shape[1] < 1:
        raise ValueError("x must have at least one time step (shape (batch, T>=1, features))")
    reference = next(model.parameters())
    if x.dtype != reference.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the model's parameters are {reference.dtype}; "
            f"convert one of them (e.g. x.to({reference.dtype}) or model.to({x.dtype}))"
        )
    if x.device != reference.device:
        raise ValueError(
            f"x is on device {x.device} but the model is on {reference.device}; move one of them"
        )
    return x
