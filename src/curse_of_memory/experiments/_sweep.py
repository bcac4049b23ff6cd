"""The driver's side of a sweep: submit the units not yet done, save each result as it
arrives, record failures, and show one progress bar for the whole sweep."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from curse_of_memory.experiments._executors import Executor, UnitOutcome, UnitTask
from curse_of_memory.experiments._io import StepStore
from curse_of_memory.experiments._units import UnitContext, check_unique_keys, derive_seed


@dataclass
class SweepResult:
    """Results of a sweep.

    Attributes
    ----------
    results: ``{key: result}`` of every finished unit (saved or computed now).
    failures: outcomes of the units that failed, in the order they failed.
    reused: keys whose saved results were reused.
    """

    results: dict[str, dict] = field(default_factory=dict)
    failures: list[UnitOutcome] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def run_units(
    units: Iterable,
    store: StepStore,
    executor: Executor,
    base_seed: int = 0,
    progress: bool = False,
    checkpoint_root: Path | None = None,
    on_failure: Callable[[list[UnitOutcome]], None] | None = None,
    description: str = "units",
) -> SweepResult:
    """Run every unit whose result is not in ``store`` on ``executor``.

    Each result is put into ``store`` (atomically on disk) as soon as it arrives, so an
    interruption loses only the units still running. A unit that raises is recorded
    and the others go on; ``on_failure(failures)`` is called after each failure.

    Parameters
    ----------
    units: the experiment's units (keys unique).
    store: where results are saved, and read from when resuming.
    executor: runs the units.
    base_seed: the run's seed; each unit's seed is ``derive_seed(key, base_seed)``.
    progress: one bar for the sweep; per-unit bars only when units run one at a time.
    checkpoint_root: each unit gets ``checkpoint_root / key`` for mid-work checkpoints.
    """
    from tqdm.auto import tqdm

    units = check_unique_keys(units)
    sweep = SweepResult()
    tasks = []
    for unit in units:
        saved = store.get(unit.key)
        if saved is not None:
            sweep.results[unit.key] = saved
            sweep.reused.append(unit.key)
            continue
        context = UnitContext(
            key=unit.key,
            seed=derive_seed(unit.key, base_seed),
            checkpoint_dir=None if checkpoint_root is None else Path(checkpoint_root) / unit.key,
            progress=progress and not executor.parallel,
        )
        tasks.append(UnitTask(unit, context))
    if not tasks:
        return sweep
    with tqdm(
        total=len(units),
        initial=len(sweep.results),
        desc=description,
        unit="unit",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        for outcome in executor.run(tasks):
            outcome = _check_json(outcome)
            if outcome.ok:
                store.put(outcome.key, outcome.result)
                sweep.results[outcome.key] = outcome.result
            else:
                sweep.failures.append(outcome)
                bar.set_postfix(failed=len(sweep.failures))
                if on_failure is not None:
                    on_failure(sweep.failures)
            bar.update(1)
    return sweep


def _check_json(outcome: UnitOutcome) -> UnitOutcome:
    """A successful outcome whose result cannot be saved as JSON becomes a failure."""
    if not outcome.ok:
        return outcome
    try:
        json.dumps(outcome.result)
    except (TypeError, ValueError) as err:
        return replace(outcome, result=None, error=f"its result is not JSON-able ({err})")
    return outcome
