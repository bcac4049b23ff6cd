"""Losses for the perturbation error: the distance ``||H - H_hat||`` of paper eq 11 as a value.

A :class:`PerturbationLoss` holds the model inputs, the reference outputs and the
distance between a model's output and them. Build one with a factory:

=========================  ===============================================================
factory                    distance
=========================  ===============================================================
:func:`mse_loss`           mean squared error over every output entry (the paper's
                           nonlinear experiments, Appendix D: "MSE loss")
:func:`twe_mse_loss`       the official code's time-weighted MSE (its train, validation and
                           *test* loss; the official Figures plot its test value)
:func:`sobolev_loss`       paper eq 13 (W^1-type norm) on Heaviside inputs
:func:`impulse_response_loss`  the model's impulse response against the target's memory
                           kernel rho on chosen time steps (sup, l1 or l2 norm)
:func:`custom_loss`        any ``function(model_output, targets) -> scalar``
=========================  ===============================================================

Time-weighted MSE (official code, ``twe_MSE`` with p = 2): ``w_i = ((i + 1)/(T + 1))^p``
for ``i = 0..T-1``, renormalised to mean 1 (``w <- T w / sum w``), and
``loss = mean_{b,i,c} w_i^2 (y_hat_{b,i,c} - y_{b,i,c})^2``: late time steps, which
carry the long memory, weigh more; for large T the last step gets ``w^2 ~ (p + 1)^2``
(9 for p = 2) and the first almost 0.

Sobolev discretisation (documented choice). The Heaviside input ``u^x`` is the
sequence ``u_k = x`` for ``k = 0..length-1`` started from a zero state, for every ``x``
in a *finite* set of values (default: the ``2^d`` sign vectors ``{-1, +1}^d``, so the
sup over ``x`` in eq 13 is a max over that set). With ``e_k = H_k(u^x) - H_hat_k(u^x)``
and ``e_{-1} = 0`` (the zero state before the step), the time derivative is the
backward difference ``(e_k - e_{k-1}) / dt`` (as in ``memory_function``), and

    error = max_k [ max_x |e_k| / |x|_inf + max_x |e_k - e_{k-1}| / (dt |x|_inf) ]   (paper eq 13)

where ``|.|`` of a multi-channel output is its max-abs over channels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_positive_float,
    check_positive_int,
    check_sequence_tensor,
)
from curse_of_memory.targets.dataset import apply_target

Distance = Callable[[torch.Tensor, Any], torch.Tensor]

IMPULSE_NORMS = ("sup", "l1", "l2")


@dataclass(frozen=True)
class PerturbationLoss:
    """A distance between a model's outputs and reference outputs on fixed inputs.

    Build it with one of the factories of this module rather than directly.

    Attributes
    ----------
    name: short name recorded in ``PerturbationCurve.meta["loss"]``.
    inputs: ``(batch, T, d_in)`` model inputs.
    targets: reference outputs compared with the model's output (for the built-in
        losses a ``(batch, T, d_out)`` tensor), or any object a custom loss accepts.
    distance: ``distance(model_output, targets) -> 0-d tensor``; vmappable for the
        batched evaluation path.
    settings: JSON-able options, recorded in ``meta["loss_settings"]``.
    match_shape: the model output must have the shape of ``targets``.
    """

    name: str
    inputs: torch.Tensor
    targets: Any
    distance: Distance
    settings: dict = field(default_factory=dict)
    match_shape: bool = True

    def bind(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, Any]:
        """``(inputs, targets)`` cast to the compute dtype and device (non-tensors as is)."""
        inputs = self.inputs.to(device=device, dtype=dtype)
        targets = self.targets
        if isinstance(targets, torch.Tensor):
            targets = targets.detach().to(device=device, dtype=dtype)
        return inputs, targets


def _check_inputs(name: str, x: Any) -> torch.Tensor:
    """A finite ``(batch, T, d)`` floating tensor with at least one sequence and one step."""
    x = check_sequence_tensor(name, x)
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(
            f"{name} must hold at least one sequence, one time step and one feature, "
            f"got shape {tuple(x.shape)}"
        )
    return x


def _check_pair(inputs: Any, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = _check_inputs("inputs", inputs)
    targets = _check_inputs("targets", targets)
    if targets.shape[:2] != inputs.shape[:2]:
        raise ValueError(
            "targets must have the same (batch, time) as inputs: "
            f"got {tuple(targets.shape)} and {tuple(inputs.shape)}"
        )
    return inputs, targets


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred - target)^2`` over all entries; a 0-d tensor."""
    return (pred - target).pow(2).mean()


def mse_loss(inputs: Any, targets: Any) -> PerturbationLoss:
    """Plain mean squared error over every output entry.

    Parameters
    ----------
    inputs: ``(batch, T, d_in)`` evaluation inputs (finite, non-empty).
    targets: ``(batch, T, d_out)`` reference outputs.
    """
    inputs, targets = _check_pair(inputs, targets)
    return PerturbationLoss("mse", inputs, targets, mean_squared_error)


def time_weights(length: int, p: float) -> torch.Tensor:
    """Official time weights ``w_i = ((i + 1)/(T + 1))^p``, renormalised to mean 1: ``(T,)``."""
    steps = torch.arange(1, length + 1, dtype=torch.float64)
    weights = (steps / (length + 1)) ** p
    return weights * (length / weights.sum())


def twe_mse_loss(inputs: Any, targets: Any, p: float = 2.0) -> PerturbationLoss:
    """The official code's time-weighted MSE (its test loss; module docstring).

    ``loss = mean_{b,i,c} w_i^2 (y_hat - y)^2`` with ``w_i = ((i + 1)/(T + 1))^p``
    renormalised to mean 1. ``p = 0`` is the plain MSE.

    Parameters
    ----------
    inputs: ``(batch, T, d_in)`` evaluation inputs.
    targets: ``(batch, T, d_out)`` reference outputs.
    p: weight exponent, finite and >= 0 (official: 2).
    """
    inputs, targets = _check_pair(inputs, targets)
    p = check_finite_float("p", p)
    if p < 0:
        raise ValueError(f"p must be >= 0, got {p}")
    squared = time_weights(inputs.shape[1], p).square().reshape(1, -1, 1)  # (1, T, 1)

    def distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (squared.to(pred) * (pred - target).square()).mean()

    return PerturbationLoss("twe_mse", inputs, targets, distance, {"p": p})


def sign_vectors(input_dim: int) -> torch.Tensor:
    """All ``2^d`` vectors of ``{-1, +1}^d``: shape ``(2^d, d)``, float64."""
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=input_dim)))


def heaviside_inputs(values: torch.Tensor, length: int) -> torch.Tensor:
    """Heaviside sequences ``u_k = x`` for ``k = 0..length-1``: ``(n_x, d)`` -> ``(n_x, T, d)``."""
    return values.unsqueeze(1).expand(-1, length, -1).contiguous()


def target_outputs(target: Any, inputs: torch.Tensor, dt: float) -> torch.Tensor:
    """Outputs ``(n, T, d_out)`` of ``target`` on ``inputs`` ``(n, T, d)``, in ``inputs.dtype``.

    See :func:`~curse_of_memory.targets.dataset.apply_target`; a torch module is fed the
    inputs in its own parameter dtype and device.
    """
    if not callable(target):
        raise TypeError(
            "target must be a LinearFunctional or a callable x -> outputs, "
            f"got {type(target).__name__}"
        )
    feed = inputs
    if isinstance(target, torch.nn.Module):
        param = next(iter(target.parameters()), None)
        if param is not None:
            feed = inputs.to(device=param.device, dtype=param.dtype)
    return apply_target(target, feed, dt).to(device=inputs.device, dtype=inputs.dtype)


def _input_dim(target: Any, input_dim: int | None) -> int:
    if input_dim is not None:
        return check_positive_int("input_dim", input_dim)
    found = getattr(target, "input_dim", None)
    if found is None:
        raise ValueError("input_dim is required when the target has no input_dim attribute")
    return check_positive_int("target.input_dim", found)


def sobolev_error(
    pred: torch.Tensor, target: torch.Tensor, value_norms: torch.Tensor, dt: float
) -> torch.Tensor:
    """Paper eq 13 on Heaviside inputs (see the module docstring).

    Parameters
    ----------
    pred, target: ``(n_x, T, d_out)`` outputs of model and target on the Heaviside inputs.
    value_norms: ``(n_x,)`` the ``|x|_inf`` of each Heaviside value.
    dt: time step of the finite difference.

    Returns a 0-d tensor.
    """
    diff = pred - target  # (n_x, T, d_out)
    previous = torch.cat([torch.zeros_like(diff[:, :1]), diff[:, :-1]], dim=1)  # e_{-1} = 0
    scale = value_norms.to(diff).reshape(-1, 1)
    value_term = (diff.abs().amax(dim=-1) / scale).amax(dim=0)  # (T,)
    slope_term = ((diff - previous).abs().amax(dim=-1) / (dt * scale)).amax(dim=0)  # (T,)
    return (value_term + slope_term).amax()


def sobolev_loss(
    target: Any,
    length: int,
    dt: float,
    heaviside_values: Any = None,
) -> PerturbationLoss:
    """Paper eq 13 (W^1-type norm) of ``target - model`` on Heaviside inputs.

    Parameters
    ----------
    target: the target functional: a :class:`~curse_of_memory.targets.LinearFunctional`
        (called ``target(x, dt)``) or a callable ``x -> (n_x, T, d_out)``.
    length: number of time steps of the Heaviside inputs (>= 1).
    dt: time step (> 0) of the inputs and of the finite difference.
    heaviside_values: ``(n_x, d_in)`` step heights x (finite, non-zero); default all
        sign vectors ``{-1, +1}^d`` with ``d = target.input_dim``.
    """
    length = check_positive_int("length", length)
    dt = check_positive_float("dt", dt)
    if not callable(target):
        raise TypeError(
            "target must be a LinearFunctional or a callable x -> outputs, "
            f"got {type(target).__name__}"
        )
    if heaviside_values is None:
        if getattr(target, "input_dim", None) is None:
            raise ValueError(
                "heaviside_values is required when the target has no input_dim attribute"
            )
        heaviside_values = sign_vectors(_input_dim(target, None))
    values = torch.as_tensor(heaviside_values, dtype=torch.float64)
    if values.dim() != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"heaviside_values must have shape (n_values, input_dim), got {tuple(values.shape)}"
        )
    norms = values.abs().amax(dim=1)
    if not bool(torch.isfinite(values).all()) or bool((norms == 0).any()):
        raise ValueError("heaviside_values must be finite and non-zero (the sup is over x != 0)")
    inputs = heaviside_inputs(values, length)  # (n_x, T, d)
    targets = target_outputs(target, inputs, dt)

    def distance(pred: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return sobolev_error(pred, reference, norms, dt)

    settings = {"length": length, "dt": dt, "heaviside_values": values.tolist()}
    return PerturbationLoss("sobolev", inputs, targets, distance, settings)


def _check_steps(steps: Any) -> torch.Tensor:
    try:
        values = np.asarray(steps)
    except (TypeError, ValueError):
        raise TypeError(f"steps must be a 1-D sequence of integers, got {steps!r}") from None
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"steps must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"steps must hold integers (time-step indices), got dtype {values.dtype}")
    if (values < 0).any() or np.unique(values).size != values.size:
        raise ValueError("steps must be distinct non-negative time-step indices")
    return torch.as_tensor(values, dtype=torch.long)


def impulse_response_loss(
    target: Any,
    dt: float,
    steps: Sequence[int] | np.ndarray,
    norm: str = "sup",
    input_dim: int | None = None,
) -> PerturbationLoss:
    """Distance between the model's impulse response and the target's on time steps ``steps``.

    The input of channel ``i`` is ``x_0 = e_i / dt`` at step 0 and 0 after, so a linear
    functional answers ``rho(k dt)`` at step k (``y_k = dt sum_j rho(j dt)
    x_{k-j}``) and a linear RNN its memory ``c^T (I + dt W)^k U``: for linear models this
    compares the memory kernels rho and rho_hat at the times ``t = k dt``.

    Parameters
    ----------
    target: a :class:`~curse_of_memory.targets.LinearFunctional` or a callable
        ``x -> (d_in, T, d_out)``.
    dt: time step (> 0).
    steps: ``(n,)`` distinct non-negative step indices k compared (the sequences run to
        ``max(steps)``).
    norm: over all compared entries: ``"sup"`` (max |difference|), ``"l1"`` (sum of
        |difference|) or ``"l2"`` (root of the sum of squares).
    input_dim: number of input channels; default ``target.input_dim``.
    """
    dt = check_positive_float("dt", dt)
    index = _check_steps(steps)
    check_choice("norm", norm, IMPULSE_NORMS)
    d = _input_dim(target, input_dim)
    length = int(index.max()) + 1
    inputs = torch.zeros(d, length, d, dtype=torch.float64)
    inputs[:, 0, :] = torch.eye(d, dtype=torch.float64) / dt  # (d, T, d): one impulse per channel
    targets = target_outputs(target, inputs, dt)

    def distance(pred: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        gap = (pred[:, index] - reference[:, index]).abs()  # (d, n, d_out)
        if norm == "sup":
            return gap.amax()
        if norm == "l1":
            return gap.sum()
        return gap.square().sum().sqrt()

    settings = {"dt": dt, "steps": index.tolist(), "norm": norm}
    return PerturbationLoss("impulse_response", inputs, targets, distance, settings)


def custom_loss(
    function: Callable[[torch.Tensor, Any], Any],
    inputs: Any,
    targets: Any = None,
    name: str | None = None,
) -> PerturbationLoss:
    """Any distance ``function(model_output, targets) -> scalar`` on ``inputs``.

    ``targets`` is passed to ``function`` unchanged (a tensor is first cast to the compute
    dtype). ``function`` must be vmappable for the batched evaluation path; the model's
    output shape is not checked.
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    inputs = _check_inputs("inputs", inputs)
    label = name if name is not None else getattr(function, "__name__", "custom")

    def distance(pred: torch.Tensor, reference: Any) -> torch.Tensor:
        return torch.as_tensor(function(pred, reference)).reshape(())

    return PerturbationLoss(str(label), inputs, targets, distance, match_shape=False)


__all__ = [
    "IMPULSE_NORMS",
    "PerturbationLoss",
    "custom_loss",
    "impulse_response_loss",
    "mse_loss",
    "sobolev_loss",
    "time_weights",
    "twe_mse_loss",
]
