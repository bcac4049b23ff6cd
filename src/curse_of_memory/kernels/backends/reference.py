"""Backend ``"reference"``: the plain torch loop (any device, dtype and transform).

The ground truth every other backend is tested against
(:mod:`curse_of_memory.kernels.reference`); ``auto`` falls back to it.
"""

from __future__ import annotations

import torch

from curse_of_memory.kernels.backends.base import Call, composed_layer
from curse_of_memory.kernels.reference import (
    euler_recurrence_reference,
    euler_recurrence_reference_models,
)


def unavailable() -> str | None:
    """Always available."""
    return None


def refusal(call: Call, automatic: bool) -> str | None:
    """Runs every call."""
    return None


def recurrence(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> torch.Tensor:
    """``(K, B, T, m)`` states by the torch loop (the single-model loop when K = 1)."""
    if drive.shape[0] == 1:
        states = euler_recurrence_reference(drive.squeeze(0), recurrent.squeeze(0), dt, activation)
        return states.unsqueeze(0)
    return euler_recurrence_reference_models(drive, recurrent, dt, activation)


layer = composed_layer(recurrence)
