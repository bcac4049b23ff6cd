"""Reproductions of the paper's figures and tables, one module per experiment.

Every experiment module defines ``DESCRIPTION``, a ``Config`` dataclass, ``PRESETS``
(``"quick"``: CPU, seconds; ``"paper"``: the paper's settings), ``run(config, progress,
store) -> results`` (plain JSON-able dict), ``plot(results) -> Figure``,
``claims(results) -> list[Claim]`` and ``summary(results) -> list[str]``. A new figure is
one new module plus one line in ``_registry.EXPERIMENTS``.
"""

from __future__ import annotations

from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._registry import EXPERIMENTS
from curse_of_memory.experiments._runner import headline, latest_claims, run_experiment

__all__ = ["EXPERIMENTS", "Claim", "headline", "latest_claims", "run_experiment"]
