"""Units on a Dask cluster (``--executor dask``), or on a local one Dask starts.

Dask distributed is an optional dependency: ``pip install 'curse-of-memory[cluster]'``.
Workers return each unit's result to the driver through the scheduler; they need the
package (and the experiment's module) installed, not the driver's filesystem.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from collections.abc import Iterator, Sequence

from curse_of_memory.experiments._executors._base import (
    Executor,
    UnitOutcome,
    UnitTask,
    check_sendable,
    execute_unit,
    failed_outcome,
)

INSTALL_HINT = "pip install 'curse-of-memory[cluster]'"


class MissingExtraError(ImportError):
    """An optional dependency of the requested executor is not installed."""


def require_dask():
    """The ``distributed`` module, or a one-line error naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(
            f"the dask executor needs Dask distributed, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


class DaskExecutor(Executor):
    """Runs units as tasks of a Dask cluster.

    Parameters
    ----------
    address: the scheduler, e.g. ``"tcp://10.0.0.1:8786"``; None starts a local cluster
        of ``workers`` single-threaded worker processes on this machine.
    workers: size of the local cluster (default: one worker per core).

    Each unit runs with one torch/numba thread: start one single-threaded worker
    process per core (``dask worker ADDRESS --nworkers -1 --nthreads 1``). A unit
    whose worker dies is started again on another worker by the scheduler (its
    ``distributed.scheduler.allowed-failures``, default 3), then reported as failed.
    """

    parallel = True

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        distributed = require_dask()
        self._cluster = None
        if address is None:
            workers = workers or os.cpu_count() or 1
            self._cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            self.description = f"local Dask cluster of {workers} worker processes"
            self.client = distributed.Client(self._cluster)
        else:
            try:
                self.client = distributed.Client(address, timeout="30s")
            except (OSError, TimeoutError) as err:
                raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {err}") from None
            self.description = f"Dask cluster at {address}"
        self._as_completed = distributed.as_completed
        self._killed_worker = distributed.KilledWorker

    def run(self, tasks: Sequence[UnitTask]) -> Iterator[UnitOutcome]:
        check_sendable(tasks)
        batch = uuid.uuid4().hex[:8]
        futures = {
            self.client.submit(
                execute_unit, task, 1, key=f"unit-{batch}-{task.unit.key}", pure=False
            ): task
            for task in tasks
        }
        try:
            for future in self._as_completed(list(futures)):
                task = futures.pop(future)
                yield self._outcome(future, task)
                future.release()
        finally:
            if futures:
                self.client.cancel(list(futures))

    def _outcome(self, future, task: UnitTask) -> UnitOutcome:
        if future.status == "finished":
            return future.result()
        err = future.exception()
        trace = "".join(traceback.format_tb(future.traceback())) or None
        if isinstance(err, self._killed_worker):
            err = RuntimeError(f"its worker process died too often (Dask: {err})")
        return failed_outcome(task, err, trace)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
