"""Decay laws of memory functions (paper Definition 3.2)."""

from curse_of_memory.analysis.decay._fit import LAWS, DecayFit, fit_decay

__all__ = ["LAWS", "DecayFit", "fit_decay"]
