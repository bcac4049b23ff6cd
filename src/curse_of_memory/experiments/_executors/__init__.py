"""Executors run an experiment's units: here, in a local process pool, or on Dask.

``make_executor(executor, jobs, address)`` builds one from the options of
``run_experiment`` / ``reproduce`` (checked first by ``check_executor_options``).
"""

from __future__ import annotations

import os

from curse_of_memory._validation import check_choice, check_nonnegative_int
from curse_of_memory.experiments._executors._base import (
    Executor,
    UnitOutcome,
    UnitTask,
    execute_unit,
)
from curse_of_memory.experiments._executors._dask import (
    DaskExecutor,
    MissingExtraError,
    require_dask,
)
from curse_of_memory.experiments._executors._local import (
    ProcessPoolUnitExecutor,
    SerialExecutor,
)

EXECUTORS: tuple[str, ...] = ("local", "dask")

__all__ = [
    "EXECUTORS",
    "DaskExecutor",
    "Executor",
    "MissingExtraError",
    "ProcessPoolUnitExecutor",
    "SerialExecutor",
    "UnitOutcome",
    "UnitTask",
    "check_executor_options",
    "execute_unit",
    "make_executor",
    "require_dask",
]


def check_executor_options(
    executor: str | None, jobs: int | None, address: str | None
) -> tuple[str, int | None]:
    """Validate the options; returns ``(executor name, number of workers or None)``.

    ``jobs``: local workers; 0 = one per core; None = 1 for ``"local"`` and one per
    core for Dask's local cluster. ``address``: a Dask scheduler (``executor="dask"``).
    """
    name = check_choice("executor", "local" if executor is None else executor, EXECUTORS)
    if jobs is not None:
        jobs = check_nonnegative_int("jobs", jobs) or os.cpu_count() or 1
    if address is not None:
        if name != "dask":
            raise ValueError("address names a Dask scheduler; it needs executor 'dask'")
        if not isinstance(address, str) or not address:
            raise ValueError(
                f"address must be a scheduler address such as 'tcp://host:8786', got {address!r}"
            )
        if jobs is not None:
            raise ValueError(
                "jobs sizes a local pool or local cluster; "
                "with an address the cluster's workers run the units"
            )
    return name, jobs


def make_executor(executor: str | None, jobs: int | None, address: str | None) -> Executor:
    """The executor for these options (see :func:`check_executor_options`)."""
    name, jobs = check_executor_options(executor, jobs, address)
    if name == "dask":
        return DaskExecutor(address, workers=jobs)
    if jobs is None or jobs == 1:
        return SerialExecutor()
    return ProcessPoolUnitExecutor(jobs)
