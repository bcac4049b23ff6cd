"""Analysis: memory functions, decay fits, perturbation error, stability, linear theory."""

from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.decay import DecayFit, fit_decay
from curse_of_memory.analysis.memory import MemoryFunction, memory_function
from curse_of_memory.analysis.perturbation import (
    PerturbationLoss,
    custom_loss,
    impulse_response_loss,
    mse_loss,
    paper_betas,
    perturbation_error,
    sobolev_loss,
    twe_mse_loss,
)
from curse_of_memory.analysis.repetition import RepetitionMemory, repetition_memory
from curse_of_memory.analysis.stability import (
    SmallErrorRadii,
    StabilityVerdict,
    stability_radius,
    stability_verdict,
)

__all__ = [
    "DecayFit",
    "MemoryFunction",
    "PerturbationCurve",
    "PerturbationLoss",
    "SmallErrorRadii",
    "RepetitionMemory",
    "StabilityVerdict",
    "custom_loss",
    "fit_decay",
    "impulse_response_loss",
    "memory_function",
    "mse_loss",
    "paper_betas",
    "perturbation_error",
    "sobolev_loss",
    "repetition_memory",
    "stability_radius",
    "stability_verdict",
    "twe_mse_loss",
]
