"""Argument checks shared by the whole package.

Every public entry point validates its arguments *before* doing any work and
raises ``ValueError`` / ``TypeError`` naming the argument, what was expected and,
for names, the valid choices.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({kind})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    return int(value)


def check_nonnegative_int(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer (>= 0), got {value}")
    return int(value)


def check_positive_float(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it is finite and > 0, else raise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}") from None
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return out


def check_finite_float(name: str, value: Any) -> float:
    """Return ``value`` as a finite ``float``, else raise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def check_choice(name: str, value: Any, choices: Iterable[str] | Mapping[str, Any]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise listing the valid ones."""
    valid = sorted(choices)
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(valid)}")
    return value


def check_sequence_tensor(name: str, x: Any, input_dim: int | None = None) -> torch.Tensor:
    """Check a ``(batch, time, features)`` input: a 3-D floating tensor without NaN/inf.

    Returns the tensor (converted from numpy if needed).
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape (batch, time, features), got {tuple(x.shape)} ({x.dim()}-D)"
        )
    if input_dim is not None and x.shape[-1] != input_dim:
        raise ValueError(f"{name} must have {input_dim} features (last axis), got {x.shape[-1]}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def primary_output(out: Any, source: str = "model") -> torch.Tensor:
    """The tensor a model's output stands for (DESIGN conventions).

    A tuple output, ``torch.nn.RNN`` style ``(output, h_n)``, means its first item; a
    tensor is returned as is. Anything else (a list, a dict, ``None``, ...) raises a
    ``TypeError`` naming ``source``.
    """
    if isinstance(out, tuple) and len(out) > 0:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"{source} must return a torch.Tensor or a tuple whose first item is one "
            f"(torch.nn.RNN style), got {type(out).__name__}"
        )
    return out


MEMORY_LIMIT_VARIABLE = "CURSE_OF_MEMORY_MAX_BYTES"


class MemoryBudgetError(ValueError):
    """A call would need more memory than the budget allows (raised before allocating)."""


def memory_budget() -> int:
    """Bytes one call may allocate: ``$CURSE_OF_MEMORY_MAX_BYTES``, else 80% of physical RAM."""
    override = os.environ.get(MEMORY_LIMIT_VARIABLE)
    if override:
        try:
            value = int(float(override))
        except ValueError:
            raise ValueError(
                f"{MEMORY_LIMIT_VARIABLE} must be a number of bytes, got {override!r}"
            ) from None
        if value <= 0:
            raise ValueError(f"{MEMORY_LIMIT_VARIABLE} must be positive, got {override!r}")
        return value
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: no estimate, no limit
        return 2**62
    return int(0.8 * physical)


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory_budget(nbytes: float, what: str, limit: int | None = None) -> None:
    """Refuse work estimated to need ``nbytes`` if that exceeds the budget.

    Parameters
    ----------
    nbytes: estimated peak allocation of the call.
    what: the call and the arguments that set its size, e.g. ``"memory_function
        (length=1000000000)"``; named in the error.
    limit: bytes allowed; default :func:`memory_budget` (overridable through the
        ``CURSE_OF_MEMORY_MAX_BYTES`` environment variable).
    """
    limit = memory_budget() if limit is None else int(limit)
    if nbytes > limit:
        raise MemoryBudgetError(
            f"{what} would need about {_format_bytes(nbytes)}, more than the limit of "
            f"{_format_bytes(limit)}; use smaller sizes, or raise the limit by setting "
            f"{MEMORY_LIMIT_VARIABLE} (bytes)"
        )
