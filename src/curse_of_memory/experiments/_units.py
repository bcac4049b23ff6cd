"""Experiments as lists of independent units.

A *unit* is one self-contained piece of an experiment: train and evaluate one model,
or take one memory measurement. It has a stable ``key``, a seed derived from that key
(so its result does not depend on which worker runs it, or in which order), and it
returns a JSON-able dict. An experiment module that works this way defines

``units(config) -> list[Unit]``
    every unit of the run (keys unique within the run);
``assemble(config, results) -> dict``
    the experiment's results (plain data) from ``{key: unit result}``; it runs no unit.

The runner hands the units to an executor (this process, a local process pool, or a
Dask cluster; see ``_executors``), saves each result as it comes back (reusing saved
results on resume), then calls ``assemble``, ``plot``, ``claims`` and ``summary``.

A unit function is a module-level function ``function(context, **params) -> dict``,
so that it can be sent to another process (or machine) by reference. It may run on a
machine that does not see the run folder; it returns its result instead of writing
it. A unit may be started again after its worker died: one that trains for long
should checkpoint into ``context.checkpoint_dir`` (atomically) and continue from there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*(/[A-Za-z0-9][A-Za-z0-9._=+-]*)*$")


def derive_seed(key: str, base_seed: int = 0) -> int:
    """A seed in ``[0, 2**31)`` determined by ``key`` and ``base_seed`` only."""
    digest = hashlib.sha256(f"{int(base_seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class UnitContext:
    """What a running unit may use besides its parameters.

    Attributes
    ----------
    key: the unit's key.
    seed: the unit's seed (:func:`derive_seed` of the key and the run's base seed).
    checkpoint_dir: a folder of this unit alone for mid-work checkpoints (resume of an
        interrupted unit), or None when checkpoints are off. It may not exist yet; on
        a cluster it lies on storage the workers share (``--checkpoint-dir``).
    progress: whether the unit may show its own progress bar.
    """

    key: str
    seed: int
    checkpoint_dir: Path | None = None
    progress: bool = False


@dataclass(frozen=True)
class Unit:
    """One independent piece of an experiment.

    Attributes
    ----------
    key: stable name, ``/``-separated parts of letters, digits and ``._=+-``
        (e.g. ``"pol/direct/tanh/m16/seed0"``); it names the unit's result file.
    function: module-level ``function(context: UnitContext, **params) -> dict``.
    params: JSON-able keyword arguments of ``function``.
    """

    key: str
    function: Callable[..., dict]
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY_PATTERN.match(self.key):
            raise ValueError(
                f"unit key must be '/'-separated parts of letters, digits and ._=+- "
                f"(each starting with a letter or digit), got {self.key!r}"
            )
        if not callable(self.function):
            raise TypeError(f"unit {self.key!r}: function must be callable")

    def run(self, context: UnitContext) -> dict:
        """Execute the unit in this process."""
        result = self.function(context, **dict(self.params))
        if not isinstance(result, dict):
            raise TypeError(
                f"unit {self.key!r} returned {type(result).__name__}; a unit returns a dict"
            )
        return result


def check_unique_keys(units: Iterable[Unit]) -> list[Unit]:
    """The units as a list; raises if two share a key."""
    units = list(units)
    seen: set[str] = set()
    for unit in units:
        if unit.key in seen:
            raise ValueError(f"two units share the key {unit.key!r}")
        seen.add(unit.key)
    return units


def run_units_serially(
    units: Iterable[Unit],
    store: Any,
    base_seed: int = 0,
    progress: bool = False,
    checkpoint_root: Path | None = None,
) -> dict[str, dict]:
    """Run every unit not yet in ``store`` in this process; ``{key: result}`` of all units.

    ``store`` is a :class:`~curse_of_memory.experiments._io.StepStore`. Raises
    ``RuntimeError`` naming the first unit that failed (after the others ran).
    """
    from curse_of_memory.experiments._executors import SerialExecutor
    from curse_of_memory.experiments._sweep import run_units

    sweep = run_units(units, store, SerialExecutor(), base_seed, progress, checkpoint_root)
    if sweep.failures:
        first = sweep.failures[0]
        raise RuntimeError(f"unit {first.key!r} failed: {first.error}\n{first.traceback or ''}")
    return sweep.results
