"""Atomic file writing and per-step checkpoints for experiment runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curse_of_memory._atomic import atomic_write_json, atomic_write_text

__all__ = ["StepStore", "atomic_write_json", "atomic_write_text"]


class StepStore:
    """Partial results of a run, one JSON file per finished step (used by ``--resume``).

    With ``directory=None`` the steps are only kept in memory.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._memory: dict[str, Any] = {}
        self.reused: list[str] = []

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The saved data of step ``key`` or None."""
        if key in self._memory:
            return self._memory[key]
        if self.directory is not None and self._path(key).is_file():
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            self._memory[key] = data
            self.reused.append(key)
            return data
        return None

    def put(self, key: str, data: Any) -> None:
        """Record a finished step (atomically on disk when a directory is set)."""
        self._memory[key] = data
        if self.directory is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)  # steps/ (and key sub-folders)
            atomic_write_json(path, data)
