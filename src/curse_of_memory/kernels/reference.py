"""Reference implementation of the forward-Euler RNN recurrence (plain torch loop).

This is the ground truth every fast path (fused CPU, GPU, parallel scan) is
checked against. It follows the discrete form of the official code: h_0 = 0 and

    h_{k+1} = h_k + dt * sigma(W h_k + drive_k),   k = 0..T-1          (paper eq 3, Euler)

with drive_k = U x_k + b precomputed, and the outputs are h_1..h_T, so the
output at step k already contains the input x_k.
"""

from __future__ import annotations

import torch

from curse_of_memory.kernels.activations import activation_fn


def euler_recurrence_reference(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    h0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the Euler recurrence step by step.

    Parameters
    ----------
    drive:
        ``(batch, T, m)`` input drive ``U x_k + b``.
    recurrent:
        Either ``(m,)`` -- the diagonal of W -- or ``(m, m)`` -- the dense W.
    dt:
        Euler step.
    activation:
        Name from :data:`curse_of_memory.kernels.activations.ACTIVATIONS`.
    h0:
        Optional ``(batch, m)`` initial state (default zeros).

    Returns
    -------
    ``(batch, T, m)`` hidden states h_1..h_T. Differentiable by autograd.
    """
    sigma = activation_fn(activation)
    batch, length, m = drive.shape
    h = drive.new_zeros(batch, m) if h0 is None else h0
    diagonal = recurrent.dim() == 1
    states = []
    # unbind, not drive[:, k]: indexing inside the loop makes autograd allocate a
    # full-size gradient per step (an O(T^2) backward); unbind's backward is one stack.
    for drive_k in drive.unbind(1):
        pre = (h * recurrent if diagonal else h @ recurrent.T) + drive_k
        h = h + dt * sigma(pre)
        states.append(h)
    return torch.stack(states, dim=1)


def euler_recurrence_reference_models(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
) -> torch.Tensor:
    """The same torch loop for K models at once (a leading model axis).

    Parameters
    ----------
    drive:
        ``(K, batch, T, m)``; model k is driven by ``drive[k]``.
    recurrent:
        ``(K, m)`` diagonals of W_k, or ``(K, m, m)`` dense W_k.
    dt, activation:
        As in :func:`euler_recurrence_reference`.

    Returns
    -------
    ``(K, batch, T, m)`` hidden states h_1..h_T of every model. Differentiable by autograd.
    """
    sigma = activation_fn(activation)
    n_models, batch, length, m = drive.shape
    h = drive.new_zeros(n_models, batch, m)
    diagonal = recurrent.dim() == 2
    states = []
    for drive_k in drive.unbind(2):  # unbind: see euler_recurrence_reference
        # paper eq 3 (Euler): W_k h for every model k, batched
        coupled = h * recurrent[:, None, :] if diagonal else h @ recurrent.transpose(1, 2)
        h = h + dt * sigma(coupled + drive_k)
        states.append(h)
    return torch.stack(states, dim=2)
