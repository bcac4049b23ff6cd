"""The RNN recurrence itself, with interchangeable backends.

``euler_recurrence`` is the one entry point models call. ``backend="reference"``
forces the plain torch loop of :mod:`curse_of_memory.kernels.reference`; ``"auto"``
picks the fastest available path for the inputs (falling back to the reference).
"""

from __future__ import annotations

import torch

from curse_of_memory._validation import check_choice, check_positive_float
from curse_of_memory.kernels.activations import ACTIVATIONS, activation_fn
from curse_of_memory.kernels.reference import euler_recurrence_reference

BACKENDS = ("auto", "reference")


def euler_recurrence(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Hidden states of ``h_{k+1} = h_k + dt sigma(W h_k + drive_k)``, ``h_0 = 0`` (SPEC eq 3).

    Parameters
    ----------
    drive: ``(batch, T, m)``, the input drive ``U x_k + b``.
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    dt: Euler step (> 0).
    activation: one of ``ACTIVATIONS``.
    backend: one of ``BACKENDS``.

    Returns ``(batch, T, m)``: h_1..h_T, differentiable w.r.t. ``drive`` and ``recurrent``.
    """
    check_choice("backend", backend, BACKENDS)
    check_choice("activation", activation, ACTIVATIONS)
    dt = check_positive_float("dt", dt)
    return euler_recurrence_reference(drive, recurrent, dt, activation)


__all__ = ["ACTIVATIONS", "BACKENDS", "activation_fn", "euler_recurrence"]
