"""A whole RNN layer ``x -> y`` (input map, Euler recurrence, readout) in one call.

    drive_k = U x_k + b,  h_{k+1} = h_k + dt sigma(W h_k + drive_k),  y_k = C h_{k+1} + d
                                                                  (paper eq 3, Euler, h_0 = 0)

The ``numba`` backend runs the whole layer as one compiled loop (the ``(B, T, m)``
drive is never formed); every other backend runs ``linear -> recurrence -> linear``.
"""

from __future__ import annotations

import torch

from curse_of_memory.kernels._checks import check_layer
from curse_of_memory.kernels.dispatch import choose_backend


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
    """Outputs ``y_k = C h_{k+1} + d`` of the Euler RNN (paper eq 3) for inputs ``x``.

    Parameters
    ----------
    x: ``(batch, T, d)`` inputs.
    input_weight: ``(m, d)`` U; input_bias: ``(m,)`` b or ``None``.
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    readout: ``(p, m)`` C; readout_bias: ``(p,)`` d or ``None``.
    dt, activation, backend: as in :func:`curse_of_memory.kernels.euler_recurrence`.

    Returns ``(batch, T, p)``, differentiable w.r.t. every tensor argument.
    """
    call = check_layer(
        x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation, backend
    )
    return choose_backend(backend, call).layer(
        x, input_weight, input_bias, recurrent, readout, readout_bias, call.dt, activation
    )
