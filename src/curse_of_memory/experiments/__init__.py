"""Reproductions of the paper's figures and tables, one module per experiment.

Every experiment module defines ``DESCRIPTION``, a ``Config`` dataclass, ``PRESETS``
(``"quick"``: CPU, seconds; ``"paper"``: the paper's settings), either ``units(config)``
and ``assemble(config, results)`` (a list of independent units, see ``_units``; they run
on any executor: this process, a local pool, or Dask) or ``run(config, progress, store)``,
and ``plot(results) -> Figure``, ``claims(results) -> list[Claim]``, ``summary(results)
-> list[str]``. A new figure is one new module plus one line in ``_registry.EXPERIMENTS``.
"""

from __future__ import annotations

from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._executors import EXECUTORS, MissingExtraError
from curse_of_memory.experiments._ledger import Ledger, latest_claims, read_ledger
from curse_of_memory.experiments._registry import EXPERIMENTS
from curse_of_memory.experiments._run_folder import RunBusyError, RunExistsError
from curse_of_memory.experiments._runner import (
    ExperimentRun,
    UnitsFailed,
    headline,
    make_config,
    open_run,
    run_experiment,
)

__all__ = [
    "EXECUTORS",
    "EXPERIMENTS",
    "Claim",
    "ExperimentRun",
    "Ledger",
    "MissingExtraError",
    "RunBusyError",
    "RunExistsError",
    "UnitsFailed",
    "headline",
    "latest_claims",
    "make_config",
    "open_run",
    "read_ledger",
    "run_experiment",
]
