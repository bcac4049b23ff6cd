"""Checks of output locations, made before any work starts.

A command that will write files checks them all first, so that a run is never lost
to a location it cannot write at the end: the target is not a folder, its folder
exists (a file's folder is never created for it), the folder accepts new files
(a probe file is created and removed: this catches read-only filesystems and
missing permissions, also for root), and it has room for what will be written.
A folder named as an output (``--out`` of ``demo``/``reproduce``) is created,
with its missing parents: that is what the user named.

Every refusal is an :class:`OutputLocationError` (a ``ValueError``) whose one-line
message names the option, the path and what is wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from curse_of_memory._validation import _format_bytes

MIN_FREE_BYTES = 1 << 20  # a folder with less than 1 MiB free is treated as full


class OutputLocationError(ValueError):
    """An output location cannot be written (refused before any work starts)."""


def check_output_file(
    path: str | Path,
    option: str,
    *,
    needed_bytes: int = 0,
    overwrite: bool = True,
    suffixes: Iterable[str] | None = None,
) -> Path:
    """Check that a file can be written at ``path``; returns it as a ``Path``.

    Parameters
    ----------
    path: the file to be written.
    option: how the user named it (``"--figure"``, ``"out"``); used in messages.
    needed_bytes: estimated size of the file; the folder must have this much room
        (and at least ``MIN_FREE_BYTES``).
    overwrite: ``False`` refuses an existing file.
    suffixes: accepted file name endings (e.g. ``(".json", ".csv")``), lower case.
    """
    named_a_folder = str(path).endswith(("/", os.sep))
    path = Path(path)
    if named_a_folder or path.is_dir():
        raise OutputLocationError(f"{option} {str(path)!r} is a folder; give a file name inside it")
    if suffixes is not None:
        valid = tuple(suffixes)
        if path.suffix.lower() not in valid:
            raise OutputLocationError(
                f"{option} {str(path)!r} must end in one of: {', '.join(valid)}"
            )
    if not overwrite and path.exists():
        raise OutputLocationError(
            f"{option} {str(path)!r} already exists; choose another name or pass --force "
            "to overwrite it"
        )
    folder = path.parent
    if not folder.exists():
        raise OutputLocationError(
            f"{option} {str(path)!r}: folder {str(folder)!r} does not exist (create it first)"
        )
    if not folder.is_dir():
        raise OutputLocationError(
            f"{option} {str(path)!r}: {str(folder)!r} is a file, not a folder"
        )
    check_folder_writable(folder, option, needed_bytes=needed_bytes)
    return path


def prepare_output_folder(path: str | Path, option: str, *, needed_bytes: int = 0) -> Path:
    """Create the output folder ``path`` if needed and check it can be written.

    Missing parents are created too (the user named the whole path); an existing
    file at ``path`` or at one of its parents is refused. Returns the folder.
    """
    path = Path(path)
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise OutputLocationError(
            f"{option} {str(path)!r}: {str(existing)!r} is a file, not a folder"
        )
    check_folder_writable(existing, option, needed_bytes=needed_bytes)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputLocationError(
            f"{option}: cannot create folder {str(path)!r}: {err.strerror or err}"
        ) from None
    if existing != path:
        check_folder_writable(path, option, needed_bytes=needed_bytes)
    return path


def check_folder_writable(folder: str | Path, option: str, *, needed_bytes: int = 0) -> None:
    """Refuse a folder that does not accept new files or lacks room for ``needed_bytes``."""
    folder = Path(folder)
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".curse-of-memory-probe.")
    except OSError as err:
        raise OutputLocationError(
            f"{option}: cannot write into folder {str(folder)!r}: {err.strerror or err}"
        ) from None
    os.close(fd)
    os.remove(probe)
    needed = max(int(needed_bytes), MIN_FREE_BYTES)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OutputLocationError(
            f"{option}: folder {str(folder)!r} is full ({_format_bytes(free)} free, about "
            f"{_format_bytes(needed)} needed)"
        )


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest parent that exists (as a file or a folder)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
