"""A run folder ``<out>/<experiment>/<run-id>/``: created exclusively, locked while in use.

Two runs never share a folder: a new run creates its folder with one atomic
``mkdir`` (another run that got there first makes the default run id take a
``-1``, ``-2``, ... suffix, and an explicit run id is refused), and the process that
works in a folder holds an exclusive lock on its ``.lock`` file, so a second
``resume`` of the same run is refused while the first one is alive. The lock goes
away with the process, however it ends.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from curse_of_memory.experiments._io import RunFileError, read_run_json

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; exclusive creation still holds
    fcntl = None

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"


class RunExistsError(FileExistsError):
    """A new run was asked for in a folder that already exists."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; resume it (resume=True) or choose another run id")
        self.path = path


class RunBusyError(RuntimeError):
    """Another live process works in the run folder."""


def config_hash(experiment: str, config: dict) -> str:
    """A short hash of the experiment name and its full config (plain JSON data)."""
    text = json.dumps({"experiment": experiment, "config": config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a plain folder name; else a one-line error."""
    if not isinstance(run_id, str) or not run_id or run_id in (".", "..") or run_id.startswith("."):
        raise ValueError(f"run id must be a plain folder name, got {run_id!r}")
    if "/" in run_id or "\\" in run_id or "\0" in run_id:
        raise ValueError(f"run id must be a plain folder name, got {run_id!r}")
    return run_id


def timestamp_run_id() -> str:
    """The default run id: the local time to the second."""
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def create_run_folder(experiment_dir: Path, run_id: str | None) -> Path:
    """Create a new, empty run folder atomically and return it.

    ``run_id=None``: a timestamp, with a ``-N`` suffix when another run already took it.
    Raises :class:`RunExistsError` when the explicit ``run_id`` exists.
    """
    experiment_dir = Path(experiment_dir)
    experiment_dir.mkdir(parents=True, exist_ok=True)  # shared by all runs of the experiment
    if run_id is not None:
        path = experiment_dir / check_run_id(run_id)
        try:
            path.mkdir()
        except FileExistsError:
            raise RunExistsError(path) from None
        return path
    base = timestamp_run_id()
    for suffix in range(10_000):
        path = experiment_dir / (base if suffix == 0 else f"{base}-{suffix}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"could not create a new run folder under {experiment_dir}")


def lock_run_folder(path: Path) -> IO[str] | None:
    """Hold the run folder's lock (released by :func:`unlock_run_folder` or process exit).

    Raises :class:`RunBusyError` when another process holds it.
    """
    if fcntl is None:
        return None
    handle = open(Path(path) / LOCK_FILE, "a+", encoding="utf-8")  # held open for the lock
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise RunBusyError(
            f"{path} is in use by another running process ({owner}); wait for it to end"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def unlock_run_folder(handle: IO[str] | None) -> None:
    """Release a lock taken by :func:`lock_run_folder`."""
    if handle is not None:
        handle.close()


def read_saved_config(path: Path) -> dict:
    """The ``config.json`` of run folder ``path``, checked for the keys a resume needs."""
    return read_run_json(Path(path) / CONFIG_FILE, required=("experiment", "preset", "config"))


def check_same_config(path: Path, saved: dict, header: dict) -> None:
    """Refuse to resume ``path`` when its saved config is not the requested one."""
    if saved["experiment"] != header["experiment"]:
        raise ValueError(
            f"cannot resume {path}: it is a run of {saved['experiment']!r}, "
            f"not {header['experiment']!r}"
        )
    if not isinstance(saved["config"], dict):
        raise RunFileError(f"{Path(path) / CONFIG_FILE}: 'config' is not a JSON object")
    if saved["config"] == header["config"]:
        return
    fields = sorted(set(saved["config"]) | set(header["config"]))
    differences = [
        f"{name}: {saved['config'].get(name)!r} in the run, {header['config'].get(name)!r} now"
        for name in fields
        if saved["config"].get(name) != header["config"].get(name)
    ]
    raise ValueError(
        f"cannot resume {path}: its config differs from the requested one "
        f"({'; '.join(differences)}); pass the same preset and settings as the run"
    )
