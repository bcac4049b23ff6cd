"""Training losses and the stability penalty.

- ``mse``: plain mean squared error (the paper's loss, Appendix D).
- ``time_weighted_mse``: the official code's temporally weighted MSE
  (``twe_MSE`` with p = 2), which stresses late time steps, where long memory shows.
- ``stability_penalty``: ``relu(1 - stability_margin)`` added (times a coefficient,
  0.01 in the official code) to the training loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from curse_of_memory._validation import check_positive_float

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of ``(prediction - target)^2`` over every entry (paper Appendix D).

    Parameters
    ----------
    prediction, target: ``(batch, T, d_out)`` tensors of the same shape.

    Returns a scalar tensor.
    """
    _check_same_shape(prediction, target)
    return torch.mean((prediction - target) ** 2)


def time_weights(length: int, power: float = 2.0, *, dtype=torch.float64, device=None):
    """Weights ``w_i = ((i+1)/(T+1))^p``, ``i = 0..T-1``, renormalised to ``w <- T w / sum w``.

    As the official code's ``twe_MSE``. Returns a ``(T,)`` tensor whose mean is 1.
    """
    power = check_positive_float("power", power)
    steps = torch.arange(1, length + 1, dtype=dtype, device=device)
    weights = (steps / (length + 1)) ** power
    return length * weights / weights.sum()


def time_weighted_mse(
    prediction: torch.Tensor, target: torch.Tensor, power: float = 2.0
) -> torch.Tensor:
    """Temporally weighted MSE: ``mean_{b,i,c} w_i^2 (yhat_{b,i,c} - y_{b,i,c})^2``.

    The official code computes ``MSE(yhat * w, y * w)``, which squares the weights.

    Parameters
    ----------
    prediction, target: ``(batch, T, d_out)`` tensors of the same shape.
    power: the exponent ``p`` of the weights (2 in the official code).

    Returns a scalar tensor.
    """
    _check_same_shape(prediction, target)
    if prediction.dim() != 3:
        raise ValueError(
            f"time_weighted_mse expects (batch, T, features) tensors, got {tuple(prediction.shape)}"
        )
    w = time_weights(prediction.shape[1], power, dtype=prediction.dtype, device=prediction.device)
    return torch.mean((w[None, :, None] * (prediction - target)) ** 2)


def stability_penalty(model: torch.nn.Module) -> torch.Tensor:
    """``relu(1 - model.stability_margin())`` (as in the official code).

    Zero once the smallest decay rate of the recurrent weights is at least 1; it
    pushes raw weights away from the unstable region during training.
    """
    margin = stability_margin_of(model)
    if not isinstance(margin, torch.Tensor):
        margin = torch.as_tensor(float(margin))
    return torch.relu(1.0 - margin)


def stability_margin_of(model: torch.nn.Module):
    """The model's stability margin, differentiable when the model offers it."""
    differentiable = getattr(model, "differentiable_stability_margin", None)
    return differentiable() if callable(differentiable) else model.stability_margin()


LOSSES: dict[str, LossFn] = {"mse": mse_loss, "time_weighted_mse": time_weighted_mse}


def _check_same_shape(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction shape {tuple(prediction.shape)} differs from target shape "
            f"{tuple(target.shape)}"
        )
