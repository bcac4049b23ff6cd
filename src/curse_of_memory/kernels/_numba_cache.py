"""Where the compiled numba kernels are cached: a user cache directory.

numba's ``cache=True`` writes next to the source, i.e. into the installed package
folder (often read-only, shared by users, or wiped with the environment). The kernels
here are decorated with :func:`cached_njit` instead, which caches in

* ``$NUMBA_CACHE_DIR`` when it is set (numba's own setting), else
* ``$XDG_CACHE_HOME/curse-of-memory/numba`` (default ``~/.cache/...``) on Linux,
  ``~/Library/Caches/curse-of-memory/numba`` on macOS and
  ``%LOCALAPPDATA%\\curse-of-memory\\numba`` on Windows.

A cached kernel is reused while the numba sources of the ``kernels`` folder (the
``_numba_*.py`` modules, where all numba code lives) are unchanged: a hash of their
contents, not of the kernel's own file only, since a kernel inlines helpers from
other modules. Each installation has its own subfolder. When no cache directory can
be written, the kernels are compiled in every process (one warning says so).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
from numba.core import caching

_KERNELS_FOLDER = Path(__file__).resolve().parent


def cache_directory() -> Path:
    """Folder for compiled kernels: ``NUMBA_CACHE_DIR`` if set, else the user cache."""
    if numba.config.CACHE_DIR:  # numba reads NUMBA_CACHE_DIR into this
        return Path(numba.config.CACHE_DIR)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "curse-of-memory" / "numba"


@functools.cache
def sources_digest() -> str:
    """SHA-256 of the ``_numba_*.py`` modules of the ``kernels`` folder (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(_KERNELS_FOLDER.glob("_numba_*.py")):
        digest.update(path.relative_to(_KERNELS_FOLDER).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class UserCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """numba cache locator: :func:`cache_directory`, stamped by the function's own source
    file and :func:`sources_digest`."""

    def __init__(self, py_func: Callable, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        subpath = self.get_suitable_cache_subpath(py_file)  # one folder per installation
        self._cache_path = str(cache_directory() / subpath)

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> tuple:
        return (super().get_source_stamp(), sources_digest())  # own file, numba modules


class _UserCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [UserCacheLocator]


class _UserFunctionCache(caching.FunctionCache):
    _impl_class = _UserCacheImpl


def cached_njit(**options) -> Callable:
    """``numba.njit(**options)`` with its compiled code cached in :func:`cache_directory`."""

    def decorate(py_func: Callable) -> Callable:
        dispatcher = numba.njit(**options)(py_func)
        try:
            dispatcher._cache = _UserFunctionCache(py_func)
        except RuntimeError:  # numba found no writable cache folder
            _warn_uncached()
        return dispatcher

    return decorate


@functools.cache
def _warn_uncached() -> None:
    warnings.warn(
        f"curse-of-memory: cannot write the numba cache folder {cache_directory()}; the "
        "kernels are compiled again in every process (set NUMBA_CACHE_DIR to a writable "
        "folder)",
        RuntimeWarning,
        stacklevel=3,
    )
