"""Analysis: memory functions, decay fits, perturbation error, stability, linear theory."""

from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.decay import DecayFit, fit_decay
from curse_of_memory.analysis.memory import MemoryFunction, memory_function
from curse_of_memory.analysis.perturbation import paper_betas, perturbation_error
from curse_of_memory.analysis.repetition import RepetitionMemory, repetition_memory
from curse_of_memory.analysis.stability import StabilityVerdict, stability_radius

__all__ = [
    "DecayFit",
    "MemoryFunction",
    "PerturbationCurve",
    "RepetitionMemory",
    "StabilityVerdict",
    "fit_decay",
    "memory_function",
    "paper_betas",
    "perturbation_error",
    "repetition_memory",
    "stability_radius",
]
