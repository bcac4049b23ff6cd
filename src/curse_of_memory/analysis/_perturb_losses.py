"""Distances ``||H - H_hat||`` used inside the perturbation error (SPEC eqs 11 and 13).

* ``"mse"``: mean squared error over every output entry (the experiments' test loss).
* ``"sobolev"``: the W^1-type norm of SPEC eq 13 restricted to Heaviside inputs.

Sobolev discretisation (documented choice). The Heaviside input ``u^x`` is the
sequence ``u_k = x`` for ``k = 0..length-1`` started from a zero state, for every ``x``
in a *finite* set of values (default: the ``2^d`` sign vectors ``{-1, +1}^d``, so the
sup over ``x`` in eq 13 is a max over that set). With ``e_k = H_k(u^x) - H_hat_k(u^x)``
and ``e_{-1} = 0`` (the zero state before the step), the time derivative is the
backward difference ``(e_k - e_{k-1}) / dt`` (the DESIGN memory-function convention), and

    error = max_k [ max_x |e_k| / |x|_inf + max_x |e_k - e_{k-1}| / (dt |x|_inf) ]   (SPEC eq 13)

where ``|.|`` of a multi-channel output is its max-abs over channels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from curse_of_memory.targets.linear import LinearFunctional

LOSSES = ("mse", "sobolev")


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred - target)^2`` over all entries; a 0-d tensor."""
    return (pred - target).pow(2).mean()


def sign_vectors(input_dim: int) -> torch.Tensor:
    """All ``2^d`` vectors of ``{-1, +1}^d``: shape ``(2^d, d)``, float64."""
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=input_dim)))


def heaviside_inputs(values: torch.Tensor, length: int) -> torch.Tensor:
    """Heaviside sequences ``u_k = x`` for ``k = 0..length-1``: ``(n_x, d)`` -> ``(n_x, T, d)``."""
    return values.unsqueeze(1).expand(-1, length, -1).contiguous()


def target_outputs(target, inputs: torch.Tensor, dt: float) -> torch.Tensor:
    """Evaluate the target on ``inputs`` ``(n_x, T, d)``.

    A :class:`LinearFunctional` is called as ``target(inputs, dt)``; any other callable as
    ``target(inputs)`` (a tuple output means its first item).
    """
    with torch.no_grad():
        out = target(inputs, dt) if isinstance(target, LinearFunctional) else target(inputs)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the target must return a torch.Tensor, got {type(out).__name__}")
    return out.to(inputs.dtype)


def sobolev_error(
    pred: torch.Tensor, target: torch.Tensor, value_norms: torch.Tensor, dt: float
) -> torch.Tensor:
    """SPEC eq 13 on Heaviside inputs (see the module docstring).

    Parameters
    ----------
    pred, target: ``(n_x, T, d_out)`` outputs of model and target on the Heaviside inputs.
    value_norms: ``(n_x,)`` the ``|x|_inf`` of each Heaviside value.
    dt: time step of the finite difference.

    Returns a 0-d tensor.
    """
    diff = pred - target  # (n_x, T, d_out)
    previous = torch.cat([torch.zeros_like(diff[:, :1]), diff[:, :-1]], dim=1)  # e_{-1} = 0
    scale = value_norms.reshape(-1, 1)
    value_term = (diff.abs().amax(dim=-1) / scale).amax(dim=0)  # (T,)
    slope_term = ((diff - previous).abs().amax(dim=-1) / (dt * scale)).amax(dim=0)  # (T,)
    return (value_term + slope_term).amax()


def make_output_loss(
    loss: str | Callable, target: torch.Tensor, **sobolev: object
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Bind the reference outputs: returns ``f(model_output) -> scalar loss``."""
    if callable(loss):
        return lambda pred: torch.as_tensor(loss(pred, target)).reshape(())
    if loss == "mse":
        return lambda pred: mean_squared_error(pred, target)
    return lambda pred: sobolev_error(pred, target, sobolev["value_norms"], sobolev["dt"])
