"""What every executor shares: a unit task, its outcome, and running it in a worker.

A worker runs :func:`execute_unit`; it never touches the run folder. The unit's
result (or its error and traceback) travels back to the driver in a
:class:`UnitOutcome`, and the driver alone writes files.
"""

from __future__ import annotations

import os
import pickle
import socket
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from curse_of_memory.experiments._units import Unit, UnitContext

# Environment variables that size the thread pools of OpenMP, BLAS and numba when a
# worker process starts (torch and numba are also set at run time, see limit_threads).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


@dataclass(frozen=True)
class UnitTask:
    """A unit and the context it runs with (sent to a worker as one picklable object)."""

    unit: Unit
    context: UnitContext


@dataclass(frozen=True)
class UnitOutcome:
    """What came back from running one unit.

    Attributes
    ----------
    key: the unit's key.
    result: its JSON-able result, or None when it failed.
    error: one line (``"ValueError: ..."``) when it failed, else None.
    traceback: the full traceback of the failure, when there is one.
    worker: ``host:pid`` of the process that ran it (or tried to).
    """

    key: str
    result: dict | None = None
    error: str | None = None
    traceback: str | None = None
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def limit_threads(threads: int) -> None:
    """Make torch and numba in this process use ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    try:
        import numba
    except ImportError:  # the reference kernels do not need numba
        return
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def execute_unit(task: UnitTask, threads: int | None = None) -> UnitOutcome:
    """Run ``task`` here (in a worker or the driver) and capture its result or error.

    ``threads``: torch/numba threads for the unit; None keeps the process's setting.
    ``KeyboardInterrupt`` and ``SystemExit`` pass through; any other exception
    becomes a failed outcome with its traceback.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if threads is not None:
            limit_threads(threads)
        result = task.unit.run(task.context)
    except Exception as err:
        return UnitOutcome(
            task.unit.key, None, _one_line(err), traceback.format_exc(), worker=worker
        )
    return UnitOutcome(task.unit.key, result, worker=worker)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def failed_outcome(task: UnitTask, err: BaseException, trace: str | None = None) -> UnitOutcome:
    """The outcome of a unit whose run failed outside the unit (a lost worker, ...)."""
    return UnitOutcome(task.unit.key, None, _one_line(err), trace)


def check_sendable(tasks: Sequence[UnitTask]) -> None:
    """Raise a one-line error for a unit that cannot be sent to another process."""
    for task in tasks:
        try:
            pickle.dumps(task)
        except Exception as err:
            function = getattr(task.unit.function, "__qualname__", repr(task.unit.function))
            raise ValueError(
                f"unit {task.unit.key!r} cannot be sent to a worker process ({_one_line(err)}); "
                f"its function {function} and params must be picklable: a module-level "
                "function and plain data"
            ) from None


class Executor(ABC):
    """Runs unit tasks and yields their outcomes as they finish (any order).

    Attributes
    ----------
    parallel: several units run at once (per-unit progress bars are then off).
    description: one line for the user, e.g. ``"local pool of 2 worker processes"``.
    """

    parallel: bool = False
    description: str = ""

    @abstractmethod
    def run(self, tasks: Sequence[UnitTask]) -> Iterator[UnitOutcome]:
        """Yield one outcome per task, in the order they finish."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release workers and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
