"""Run an experiment into ``<out>/<experiment>/<run-id>/`` and resume it.

Layout of a run folder (every file written atomically, ``DONE`` written last)::

    config.json     experiment, preset, overrides, the full config and its hash
    steps/          one file per finished unit (or step), with the config hash;
                    reused only by ``resume`` and only under the same config
    failures.json   units that failed: key, error, traceback (while any fail)
    checkpoints/    mid-work checkpoints of the units (unless ``checkpoint_dir``)
    results.json    raw numbers
    curves.csv      panel, width, beta, error (one row per point of every perturbation
                    curve; only the header for experiments without such curves)
    figure.png, figure.pdf
    claims.json     list of Claim dicts
    DONE            manifest: finished time, config hash, executor, claims summary

A new run creates its folder exclusively and every run holds the folder's lock
while it works (``_run_folder``), so two runs never write into one folder.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curse_of_memory._validation import check_choice
from curse_of_memory.experiments._executors import (
    Executor,
    SerialExecutor,
    UnitOutcome,
    check_executor_options,
    make_executor,
    require_dask,
)
from curse_of_memory.experiments._io import (
    StepStore,
    atomic_write_json,
    atomic_write_text,
    read_run_json,
    remove_stale_temporaries,
)
from curse_of_memory.experiments._ledger import CLAIMS_FILE, DONE_FILE
from curse_of_memory.experiments._registry import EXPERIMENTS
from curse_of_memory.experiments._run_folder import (
    CONFIG_FILE,
    check_run_id,
    check_same_config,
    config_hash,
    create_run_folder,
    lock_run_folder,
    read_saved_config,
    unlock_run_folder,
)
from curse_of_memory.experiments._sweep import run_units
from curse_of_memory.experiments._units import (
    check_unique_keys,
    run_units_serially,
)
from curse_of_memory.plotting import save_figure

FAILURES_FILE = "failures.json"
_FIGURE_OPTIONS = {"dpi": 150, "bbox_inches": "tight"}
_OUTPUT_FILES = (CONFIG_FILE, "results.json", "curves.csv", "figure.png", "figure.pdf")


def _config_dict(config: Any) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))  # tuples -> lists


def make_config(name: str, preset: str = "quick", overrides: Mapping[str, Any] | None = None):
    """The config of experiment ``name`` at ``preset`` with ``overrides`` applied (validated)."""
    module = EXPERIMENTS[check_choice("experiment", name, EXPERIMENTS)]
    check_choice("preset", preset, module.PRESETS)
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(module.Config)}
    for key in overrides:
        if key not in fields:
            raise ValueError(
                f"unknown override {key!r} for {name}; valid keys: {', '.join(sorted(fields))}"
            )
    return dataclasses.replace(module.PRESETS[preset], **overrides)


def _curves_csv(results: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["panel", "width", "beta", "error"])
    for panel, data in results.get("panels", {}).items():
        for curve in data.get("curves", []):
            for beta, error in zip(curve["betas"], curve["errors"], strict=True):
                writer.writerow([panel, curve["width"], repr(beta), repr(error)])
    return buffer.getvalue()


class UnitsFailed(RuntimeError):
    """Some units of a run raised (or lost their worker too often); the others are saved.

    Attributes
    ----------
    run_dir: the run folder; its ``failures.json`` holds each error and traceback.
    failures: the failed outcomes (``key``, ``error``, ``traceback``, ``worker``).
    total: number of units of the run.
    """

    def __init__(self, run_dir: Path, failures: list[UnitOutcome], total: int) -> None:
        listed = "; ".join(f"{f.key} ({f.error})" for f in failures)
        super().__init__(
            f"{len(failures)} of {total} units failed: {listed}; tracebacks in "
            f"{run_dir / FAILURES_FILE}; resume the run to rerun only these"
        )
        self.run_dir = run_dir
        self.failures = failures
        self.total = total


def _write_failures(path: Path, config_hash: str, failures: list[UnitOutcome]) -> None:
    records = [
        {"key": f.key, "error": f.error, "worker": f.worker, "traceback": f.traceback}
        for f in failures
    ]
    atomic_write_json(path, {"config_hash": config_hash, "failed": records})


@dataclasses.dataclass(frozen=True)
class _ExecutorOptions:
    name: str
    jobs: int | None
    address: str | None


class ExperimentRun:
    """An open run folder: options checked, folder created (or reopened) and locked.

    Made by :func:`open_run`; use it as a context manager and call :meth:`execute`.

    Attributes
    ----------
    name, preset, config: the experiment and its config.
    run_dir, run_id: the run folder and its name.
    resumed: the folder existed and is being continued.
    complete: the folder already holds a finished run (``DONE``); ``execute`` does nothing.
    checkpoint_root: parent folder of the units' mid-work checkpoints.
    """

    def __init__(
        self,
        name: str,
        preset: str,
        config: Any,
        header: dict,
        run_dir: Path,
        resumed: bool,
        checkpoint_root: Path,
        executor: _ExecutorOptions,
        progress: bool,
        log: Callable[[str], None],
        lock: Any,
    ) -> None:
        self.name, self.preset, self.config, self.header = name, preset, config, header
        self.module = EXPERIMENTS[name]
        self.run_dir, self.run_id = run_dir, run_dir.name
        self.resumed = resumed
        self.complete = resumed and (run_dir / DONE_FILE).exists()
        self.checkpoint_root = checkpoint_root
        self.store = StepStore(run_dir / "steps", header["config_hash"], reuse=resumed)
        self._executor = executor
        self._executor_description = SerialExecutor.description
        self._progress = progress
        self._log = log
        self._lock = lock

    def __enter__(self) -> ExperimentRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the run folder's lock."""
        unlock_run_folder(self._lock)
        self._lock = None

    def execute(self) -> Path:
        """Run the missing units (or steps), then write results, figures, claims and DONE.

        Raises
        ------
        UnitsFailed: some units failed; everything else is saved, DONE is not written.
        """
        if self.complete:
            self._log(f"{self.run_dir} is already complete; nothing to run")
            return self.run_dir
        results = self._compute()
        results["run"] = {
            "run_id": self.run_id,
            "preset": self.preset,
            "config_hash": self.header["config_hash"],
            "reused_steps": sorted(self.store.reused),
        }
        self._write_outputs(results)
        return self.run_dir

    def _compute(self) -> dict:
        units = check_unique_keys(self.module.units(self.config))
        reused = sum(self.store.get(unit.key) is not None for unit in units)  # checks the files
        if self.resumed:
            self._log(
                f"resuming {self.run_dir}: reusing {reused} finished units, "
                f"{len(units) - reused} to run"
            )
        failures_path = self.run_dir / FAILURES_FILE
        with contextlib.ExitStack() as stack:
            executor: Executor = SerialExecutor()
            if reused < len(units):
                options = self._executor
                executor = stack.enter_context(
                    make_executor(options.name, options.jobs, options.address)
                )
                self._executor_description = executor.description
                self._log(f"running {len(units) - reused} units on {executor.description}")
            sweep = run_units(
                units,
                self.store,
                executor,
                base_seed=getattr(self.config, "seed", 0),
                progress=self._progress,
                checkpoint_root=self.checkpoint_root,
                on_failure=lambda failed: _write_failures(
                    failures_path, self.header["config_hash"], failed
                ),
                description=f"{self.name} units",
            )
        if sweep.failures:
            raise UnitsFailed(self.run_dir, sweep.failures, len(units))
        failures_path.unlink(missing_ok=True)  # left by an earlier attempt; all units ran now
        return self.module.assemble(self.config, sweep.results)

    def _write_outputs(self, results: dict) -> None:
        run_dir = self.run_dir
        atomic_write_json(run_dir / "results.json", results)
        atomic_write_text(run_dir / "curves.csv", _curves_csv(results))
        figure = self.module.plot(results)
        try:
            for suffix in ("png", "pdf"):
                save_figure(figure, run_dir / f"figure.{suffix}", close=False, **_FIGURE_OPTIONS)
        finally:
            import matplotlib.pyplot as plt

            plt.close(figure)
        claim_list = [c.to_dict() for c in self.module.claims(results)]
        atomic_write_json(run_dir / CLAIMS_FILE, claim_list)
        manifest = {
            "experiment": self.name,
            "run_id": self.run_id,
            "preset": self.preset,
            "config_hash": self.header["config_hash"],
            "finished": datetime.now(timezone.utc).isoformat(),
            "executor": self._executor_description,
            "files": [*_OUTPUT_FILES, CLAIMS_FILE],
            "claims_passed": sum(c["passed"] for c in claim_list),
            "claims_total": len(claim_list),
        }
        atomic_write_json(run_dir / DONE_FILE, manifest)  # written last: marks the run complete


def open_run(
    name: str,
    preset: str = "quick",
    out_dir: str | Path = "results",
    run_id: str | None = None,
    resume: bool = False,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    *,
    jobs: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    checkpoint_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ExperimentRun:
    """Check every option, then create (or, with ``resume``, reopen) and lock the run folder.

    Same parameters as :func:`run_experiment`; nothing is written before the options
    are checked. Use the result as a context manager (it releases the lock) and call
    its ``execute()``.
    """
    config = make_config(name, preset, overrides)
    options = _ExecutorOptions(*check_executor_options(executor, jobs, address), address)
    if options.name == "dask":
        require_dask()
    if run_id is not None:
        check_run_id(run_id)
    elif resume:
        raise ValueError("resume needs the run id of the run to continue")
    log = log or (lambda message: None)
    config_data = _config_dict(config)
    header = {
        "experiment": name,
        "preset": preset,
        "overrides": dict(overrides or {}),
        "config": config_data,
        "config_hash": config_hash(name, config_data),
    }
    if resume:
        run_dir = Path(out_dir) / name / run_id
        if not run_dir.is_dir():
            raise FileNotFoundError(f"no run folder {run_dir} to resume")
    else:
        run_dir = create_run_folder(Path(out_dir) / name, run_id)
    lock = lock_run_folder(run_dir)
    try:
        checkpoint_root = (
            run_dir / "checkpoints"
            if checkpoint_dir is None
            else Path(checkpoint_dir) / name / run_dir.name
        )
        if resume:
            check_same_config(run_dir, read_saved_config(run_dir), header)
            if (run_dir / DONE_FILE).exists():
                read_run_json(run_dir / DONE_FILE, required=("run_id", "finished"))
            removed = remove_stale_temporaries(run_dir) + remove_stale_temporaries(checkpoint_root)
            if removed:
                log(f"removed {len(removed)} temporary file(s) left by an interrupted write")
        else:
            atomic_write_json(run_dir / CONFIG_FILE, header)
        log(f"run folder: {run_dir}")
        return ExperimentRun(
            name,
            preset,
            config,
            header,
            run_dir,
            resume,
            checkpoint_root,
            options,
            progress,
            log,
            lock,
        )
    except BaseException:
        unlock_run_folder(lock)
        raise


def run_experiment(
    name: str,
    preset: str = "quick",
    out_dir: str | Path = "results",
    run_id: str | None = None,
    resume: bool = False,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    *,
    jobs: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    checkpoint_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run experiment ``name`` and write its run folder; returns that folder.

    Parameters
    ----------
    name: key of :data:`EXPERIMENTS`.
    preset: ``"quick"`` or ``"paper"`` (or another preset the experiment defines).
    out_dir: root of all results; the run goes to ``out_dir/name/run_id``.
    run_id: folder name of this run; default a timestamp (``-1``, ``-2``, ... appended
        when another run took it). A new run never reuses an existing folder.
    resume: continue the run ``run_id``: the same config is required (else an error
        says what differs); finished units are reused, failed or missing ones run
        again, stale temporary files are removed. A complete run is returned as is.
    progress: show progress bars (one for the sweep).
    overrides: config fields to change, e.g. ``{"samples": 3}`` (validated).
    jobs: local worker processes (``0`` = one per core); default 1, or one per core
        for Dask's local cluster.
    executor: ``"local"`` (default) or ``"dask"`` (needs ``curse-of-memory[cluster]``).
    address: the Dask scheduler to use, e.g. ``"tcp://10.0.0.1:8786"``; without it
        Dask starts a local cluster.
    checkpoint_dir: where units write mid-work checkpoints (shared storage on a
        cluster): ``checkpoint_dir/name/run_id/<unit key>/``. Default:
        ``checkpoints/`` inside the run folder.
    log: called with one line per event (run folder, what a resume reuses, the
        executor); default silent.

    Raises
    ------
    UnitsFailed: some units failed (the rest is saved; resume reruns only those).
    RunExistsError: ``run_id`` exists and ``resume`` is false.
    RunBusyError: another live process works in that run folder.
    """
    with open_run(
        name,
        preset,
        out_dir,
        run_id,
        resume,
        progress,
        overrides,
        jobs=jobs,
        executor=executor,
        address=address,
        checkpoint_dir=checkpoint_dir,
        log=log,
    ) as run:
        return run.execute()


def _compute_in_memory(module: Any, config: Any) -> dict:
    """An experiment's results computed in this process, without any file."""
    return module.assemble(config, run_units_serially(module.units(config), StepStore()))


def headline(names: tuple[str, ...] = ("fig1", "fig4"), preset: str = "quick") -> str:
    """Run experiments in memory (no files) and return a plain-language summary.

    With the quick presets, fig1 + fig4 (least-squares fits, no training) take about a
    second on a CPU once the numba kernels are compiled and cached; the first call of
    an installation also compiles them.
    """
    lines = []
    for name in names:
        config = make_config(name, preset)
        module = EXPERIMENTS[name]
        results = _compute_in_memory(module, config)
        claims = module.claims(results)
        passed = sum(c.passed for c in claims)
        lines.append(f"{name} ({preset}): {passed}/{len(claims)} paper claims reproduced")
        lines.extend(f"  {line}" for line in module.summary(results))
    return "\n".join(lines)
