"""Decay laws of memory functions (paper Definition 3.2): see :func:`fit_decay`."""

from curse_of_memory.analysis.decay._fit import fit_decay
from curse_of_memory.analysis.decay._result import LAWS, DecayFit

__all__ = ["LAWS", "DecayFit", "fit_decay"]
