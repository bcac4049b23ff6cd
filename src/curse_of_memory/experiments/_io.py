"""Files of a run folder: checked JSON reads, per-step results, stale temporaries.

Every file is written atomically (``_atomic``), so a reader sees a complete file or
none. Files can still be damaged from outside (a disk fault, an editor, a copy cut
short); reads therefore check what they get and name the file when it is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curse_of_memory._atomic import atomic_write_json, atomic_write_text

__all__ = [
    "RunFileError",
    "StepStore",
    "atomic_write_json",
    "atomic_write_text",
    "read_run_json",
    "remove_stale_temporaries",
]


class RunFileError(ValueError):
    """A file of a run folder cannot be used: unreadable, not JSON, or wrong content."""


def read_run_json(path: Path, required: Iterable[str] = (), kind: type = dict) -> Any:
    """The JSON content of ``path``, checked to be a ``kind`` with the ``required`` keys.

    Raises
    ------
    RunFileError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFileError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path} cannot be read ({err})") from None
    except json.JSONDecodeError as err:
        raise RunFileError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(data, kind):
        raise RunFileError(f"{path} holds a JSON {type(data).__name__}, expected {kind.__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise RunFileError(f"{path} lacks the key(s) {', '.join(missing)}")
    return data


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries (``.NAME.*.tmp``) an interrupted atomic write left in ``folder``.

    Only call this while no other process writes into ``folder`` (the run's lock is held).
    Returns the removed paths.
    """
    removed = []
    if Path(folder).is_dir():
        for path in sorted(Path(folder).rglob(".*.tmp")):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


class StepStore:
    """Results of finished steps (units) of a run, one JSON file per step.

    A step file holds ``{"config_hash", "key", "result"}``; it is reused only when
    ``reuse`` is true (a resumed run) and its ``config_hash`` matches the run's, so
    a step computed under another config is never mixed into this run.

    Parameters
    ----------
    directory: folder of the step files; None keeps the steps in memory only.
    config_hash: hash of the run's config (see ``_run_folder.config_hash``).
    reuse: read saved step files (only when resuming a run).
    """

    def __init__(
        self, directory: Path | None = None, config_hash: str = "", reuse: bool = False
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        self.config_hash = config_hash
        self.reuse = reuse
        self._memory: dict[str, Any] = {}
        self.reused: list[str] = []

    def path(self, key: str) -> Path:
        """The file of step ``key`` (``key`` may contain ``/``: sub-folders)."""
        if self.directory is None:
            raise ValueError("this StepStore keeps its steps in memory only")
        return self.directory / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The saved result of step ``key``, or None when it has not finished.

        Raises
        ------
        RunFileError: the step file is damaged, or was written under another config.
        """
        if key in self._memory:
            return self._memory[key]
        if not (self.reuse and self.directory is not None and self.path(key).is_file()):
            return None
        path = self.path(key)
        saved = read_run_json(path, required=("config_hash", "key", "result"))
        if saved["key"] != key:
            raise RunFileError(f"{path} holds step {saved['key']!r}, expected {key!r}")
        if saved["config_hash"] != self.config_hash:
            raise RunFileError(
                f"{path} was written under another config (hash {saved['config_hash']!r}, "
                f"this run's is {self.config_hash!r}); delete it to recompute the step"
            )
        self._memory[key] = saved["result"]
        self.reused.append(key)
        return saved["result"]

    def put(self, key: str, data: Any) -> None:
        """Record a finished step (atomically on disk when a directory is set)."""
        self._memory[key] = data
        if self.directory is not None:
            record = {"config_hash": self.config_hash, "key": key, "result": data}
            path = self.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)  # steps/ (and key sub-folders)
            atomic_write_json(path, record)
