"""Recurrent-weight gradients from the adjoint and the saved states (torch).

With ``delta_t = dL/d(W h_t + drive_t)`` (the gradient w.r.t. the pre-activation of
step t, paper eq 3) and h_t the state *before* step t (h_0 = 0, so step 0 adds
nothing), ``dL/dW = sum over sequences and t >= 1 of delta_t h_t^T``, where h_t is
the saved output ``states[t - 1]``. Used by the backward passes of the scan, the
Triton kernels and the numba kernels (dense W).
"""

from __future__ import annotations

import torch


def diagonal_weight_gradient(delta: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``(K, m)``: ``dL/dlambda_i = sum_{b, t >= 1} delta_{b,t,i} h_{b,t,i}``.

    ``delta``, ``states``: ``(K, B, T, m)``.
    """
    return (delta[:, :, 1:] * states[:, :, :-1]).sum(dim=(1, 2))


def dense_weight_gradient(delta: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``(K, m, m)``: ``dL/dW = sum_{sequences, t >= 1} delta_t h_t^T``.

    ``delta``, ``states``: ``(K, slots, T, R, m)``: sequence ``s`` is row ``s % R`` of
    slot ``s // R`` (a ``(K, B, T, m)`` tensor is the case R = 1); rows that hold no
    sequence must be zero. Flattened per model, the row of step t sits R rows after
    the row of step t - 1, so one product pairs every row with the one R rows
    earlier; the pairs this forms across slots (step 0 of slot s with the last step of
    slot s - 1) are then subtracted. No copy of the ``(K, B, T, m)`` tensors is made.
    """
    n_models, slots, length, rows, m = delta.shape
    if length == 1:  # only step 0, where h_0 = 0
        return delta.new_zeros(n_models, m, m)
    flat_delta = delta.reshape(n_models, -1, m)
    flat_states = states.reshape(n_models, -1, m)
    products = torch.bmm(flat_delta[:, rows:].transpose(1, 2), flat_states[:, :-rows])
    if slots > 1:
        first_steps = delta[:, 1:, 0].reshape(n_models, -1, m)  # (K, (slots - 1) R, m)
        last_states = states[:, :-1, -1].reshape(n_models, -1, m)
        products -= torch.bmm(first_steps.transpose(1, 2), last_states)
    return products
