"""The Euler recurrence on a given drive, for one model or K models at once."""

from __future__ import annotations

import torch

from curse_of_memory.kernels._checks import check_recurrence
from curse_of_memory.kernels.dispatch import choose_backend


def euler_recurrence(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Hidden states of ``h_{k+1} = h_k + dt sigma(W h_k + drive_k)``, ``h_0 = 0`` (paper eq 3).

    Parameters
    ----------
    drive: ``(batch, T, m)``, the input drive ``U x_k + b``.
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    dt: Euler step (> 0).
    activation: one of ``ACTIVATIONS``.
    backend: ``"auto"`` or a name in ``BACKENDS`` (see :mod:`curse_of_memory.kernels`).

    Returns ``(batch, T, m)``: h_1..h_T, differentiable w.r.t. ``drive`` and ``recurrent``.
    """
    call = check_recurrence(drive, recurrent, dt, activation, backend, model_axis=False)
    run = choose_backend(backend, call).recurrence
    # unsqueeze/squeeze, not [None]/[0]: the backward of indexing fills a new gradient
    # tensor, that of squeeze is a view (the stride-0 gradient of .sum() stays one)
    return run(drive.unsqueeze(0), recurrent.unsqueeze(0), call.dt, activation).squeeze(0)


def euler_recurrence_batched_models(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Run K Euler recurrences with distinct recurrent weights in one call.

    Used for stacks of perturbed models (perturbation curves) or ensembles.

    Parameters
    ----------
    drive: ``(K, batch, T, m)``; model k sees ``drive[k]``.
    recurrent: ``(K, m)`` diagonals of W_k, or ``(K, m, m)`` dense W_k.
    dt, activation, backend: as in :func:`euler_recurrence`.

    Returns ``(K, batch, T, m)``: h_1..h_T of every model, differentiable.
    """
    call = check_recurrence(drive, recurrent, dt, activation, backend, model_axis=True)
    return choose_backend(backend, call).recurrence(drive, recurrent, call.dt, activation)
