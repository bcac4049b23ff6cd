"""Atomic file writes: write a temporary file beside the target, then rename it.

A reader, an interrupted run or a full disk therefore leaves either the old file or
the complete new one, never a half-written file. The temporary file lives in the
target's own folder (``.<name>.<random>.tmp``) so the final rename stays on one
filesystem. No folder is ever created here: the target's folder must exist.

Every failure is an :class:`AtomicWriteError` (an ``OSError`` keeping the ``errno``)
whose message names the target and the reason, e.g. ``cannot write 'out/model.pt':
No space left on device``; the temporary file is removed and the target is unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


class AtomicWriteError(OSError):
    """An atomic write failed; the target file was left as it was."""

    def __str__(self) -> str:  # the message alone, without "[Errno N]"
        return str(self.strerror)


def temporary_prefix(path: str | Path) -> str:
    """Name prefix of the temporary files written for ``path`` (beside it)."""
    return f".{Path(path).name}."


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)``, flush it to disk, then move it onto ``path``.

    Parameters
    ----------
    path: the target file; its folder must exist and the path must not be a folder.
    write: writes the complete content to the temporary path it is given.

    Returns the target path. Raises :class:`AtomicWriteError` if the target is a
    folder, its folder is missing, or the filesystem refuses (read-only, full, ...).
    """
    path = Path(path)
    _check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=temporary_prefix(path), suffix=TEMP_SUFFIX
        )
    except OSError as err:
        raise _write_error(path, err) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual mode
        write(tmp)
        with open(tmp, "rb") as handle:  # on disk before the rename: survives a crash
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise _write_error(path, err) from None
    finally:
        if os.path.lexists(tmp):
            try:
                os.remove(tmp)
            except OSError:  # nothing more can be done on a filesystem that refuses
                pass
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _check_target(path: Path) -> None:
    """Refuse, before anything is written, a target that cannot be a file."""
    folder = path.parent
    if path.is_dir():
        raise AtomicWriteError(errno.EISDIR, f"cannot write {str(path)!r}: it is a folder")
    if not folder.exists():
        raise AtomicWriteError(
            errno.ENOENT, f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist"
        )
    if not folder.is_dir():
        raise AtomicWriteError(
            errno.ENOTDIR, f"cannot write {str(path)!r}: {str(folder)!r} is a file, not a folder"
        )


def _write_error(path: Path, err: OSError) -> AtomicWriteError:
    reason = err.strerror or str(err)
    return AtomicWriteError(err.errno, f"cannot write {str(path)!r}: {reason}")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
