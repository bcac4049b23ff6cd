"""Perturbation error E_m(beta) (paper eq 11): losses as values, one batched estimator::

from curse_of_memory import mse_loss, paper_betas, perturbation_error

curve = perturbation_error(model, mse_loss(x_test, y_test), paper_betas("official"))
"""

from curse_of_memory.analysis.perturbation._error import (
    MODES,
    PAPER_BETA_KINDS,
    paper_betas,
    perturbation_error,
)
from curse_of_memory.analysis.perturbation._noise import NORMS
from curse_of_memory.analysis.perturbation._weights import RELU_SEMANTICS
from curse_of_memory.analysis.perturbation.losses import (
    IMPULSE_NORMS,
    PerturbationLoss,
    custom_loss,
    impulse_response_loss,
    mse_loss,
    sobolev_loss,
    twe_mse_loss,
)

__all__ = [
    "IMPULSE_NORMS",
    "MODES",
    "NORMS",
    "PAPER_BETA_KINDS",
    "RELU_SEMANTICS",
    "PerturbationLoss",
    "custom_loss",
    "impulse_response_loss",
    "mse_loss",
    "paper_betas",
    "perturbation_error",
    "sobolev_loss",
    "twe_mse_loss",
]
