"""Reproductions of the paper's figures and tables, one module per experiment.

An experiment is a list of independent units (see ``_units``), so that it runs on any
executor: this process, a local pool, or a Dask cluster. Its module defines

``DESCRIPTION``
    one line, shown by ``reproduce --list``.
``Config``, ``PRESETS``
    a dataclass of every setting (validated in ``__post_init__``; a ``seed`` field is
    the run's base seed) and named instances of it: ``"quick"`` (a scaled-down run on
    a CPU) and ``"paper"`` (the paper's settings).
``units(config) -> list[Unit]``
    every unit of the run, each a stable key, a module-level unit function
    ``function(context, **params) -> dict`` and its JSON-able parameters.
``assemble(config, results_by_key) -> dict``
    the experiment's results (JSON-able) from ``{unit key: unit result}``; it runs no
    unit.
``plot(results) -> Figure``, ``claims(results) -> list[Claim]``, ``summary(results) -> list[str]``
    the figure, the paper's statements checked against the results, and a
    plain-language summary.

``fig2`` (units from the shared student sweeps in ``_sweeps``) and ``fig10`` (its own
unit function) are examples. A new figure is one new module plus one line in
``_registry.EXPERIMENTS``. :func:`run_experiment` runs the units, saves each result as
it arrives, and writes the run folder.
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
