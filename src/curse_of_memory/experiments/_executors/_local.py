"""Executors on this machine: in the driver's process, or a pool of worker processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from curse_of_memory.experiments._executors._base import (
    THREAD_VARIABLES,
    Executor,
    UnitOutcome,
    UnitTask,
    check_sendable,
    execute_unit,
    failed_outcome,
    limit_threads,
)

# How often a unit is started when its worker process dies under it (killed, out of
# memory), before it is reported as failed; Dask's default allowed-failures is 3 too.
MAX_ATTEMPTS = 3


class SerialExecutor(Executor):
    """Runs the units one after another in this process (``--jobs 1``)."""

    description = "this process, one unit at a time"

    def run(self, tasks: Sequence[UnitTask]) -> Iterator[UnitOutcome]:
        for task in tasks:
            yield execute_unit(task)


def _start_worker(threads: int) -> None:
    """Initializer of a pool worker: Ctrl-C is the driver's business; size the threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)


@contextlib.contextmanager
def _thread_environment(threads: int) -> Iterator[None]:
    """Export the thread-count variables while worker processes are started."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ProcessPoolUnitExecutor(Executor):
    """Runs units in ``workers`` processes of this machine (``--jobs N``).

    Each worker is its own single-process pool (spawned, so no thread pool is ever
    forked), with ``max(1, cores // workers)`` torch/numba/BLAS threads. A worker that
    dies (SIGKILL, out-of-memory killer) costs only the unit it was running: that
    slot gets a fresh process and the unit starts again (it resumes from its own
    checkpoint, if it writes one), up to ``MAX_ATTEMPTS`` times.
    """

    parallel = True

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.description = (
            f"local pool of {workers} worker processes, {self.threads} thread(s) each"
        )
        self._slots: list[ProcessPoolExecutor | None] = [None] * workers

    def _slot(self, index: int) -> ProcessPoolExecutor:
        if self._slots[index] is None:
            self._slots[index] = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.threads,),
            )
        return self._slots[index]

    def _drop_slot(self, index: int, kill: bool) -> None:
        pool, self._slots[index] = self._slots[index], None
        if pool is None:
            return
        if kill:  # a running unit would otherwise finish before shutdown returns
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)

    def run(self, tasks: Sequence[UnitTask]) -> Iterator[UnitOutcome]:
        check_sendable(tasks)
        pending = deque(tasks)
        attempts = {task.unit.key: 0 for task in tasks}
        running: dict[Future, tuple[int, UnitTask]] = {}
        finished_normally = False
        with _thread_environment(self.threads):
            try:
                while pending or running:
                    busy = {index for index, _ in running.values()}
                    for index in range(self.workers):
                        if pending and index not in busy:
                            task = pending.popleft()
                            attempts[task.unit.key] += 1
                            future = self._slot(index).submit(execute_unit, task)
                            running[future] = (index, task)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index, task = running.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            self._drop_slot(index, kill=True)
                            if attempts[task.unit.key] < MAX_ATTEMPTS:
                                pending.appendleft(task)
                                continue
                            outcome = failed_outcome(
                                task,
                                RuntimeError(
                                    f"its worker process died {MAX_ATTEMPTS} times "
                                    "(killed by a signal or out of memory)"
                                ),
                            )
                        except Exception as err:  # e.g. a result that cannot be pickled
                            outcome = failed_outcome(task, err, traceback.format_exc())
                        yield outcome
                finished_normally = True
            finally:
                for index in range(self.workers):
                    self._drop_slot(index, kill=not finished_normally)

    def close(self) -> None:
        for index in range(self.workers):
            self._drop_slot(index, kill=True)
