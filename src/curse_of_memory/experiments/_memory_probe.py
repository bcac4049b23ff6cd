"""Memory measurements shared by the memory-pattern experiments (Figs 10, 11, App. J, gated sup).

Every memory function of these experiments is measured by :func:`measure_memory` and
every decay law fitted by :func:`fit_law`, so the instruments are called in one place.

Input bound. The memory function is a supremum over Heaviside (or impulse) inputs of
size ``0 < |x|_inf <= input_bound``; ``input_bound = inf`` is the unrestricted sup of
Definition 3.1 (the amplitude search then starts from inputs up to 1e3 and refines).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from curse_of_memory._validation import check_choice
from curse_of_memory.analysis.decay import DecayFit, fit_decay
from curse_of_memory.analysis.memory import MemoryFunction, memory_function


def measure_memory(
    model: Any,
    length: int,
    dt: float,
    kind: str,
    input_bound: float,
    *,
    input_dim: int | None = None,
    seed: int = 0,
) -> MemoryFunction:
    """Memory function of ``model`` over inputs ``0 < |x|_inf <= input_bound``."""
    return memory_function(
        model, length, dt, kind=kind, input_dim=input_dim, input_bound=input_bound, seed=seed
    )


def fit_law(memory: MemoryFunction | tuple[np.ndarray, np.ndarray], **window: float) -> DecayFit:
    """Decay law of a memory curve (``window``: ``t_start`` / ``t_end`` of :func:`fit_decay`)."""
    return fit_decay(memory, **window)


def memory_record(memory: MemoryFunction, fit: DecayFit) -> dict:
    """JSON-able summary of one measurement: curve, maximising amplitude, fit, bound."""
    return {
        "t": memory.t.tolist(),
        "values": memory.values.tolist(),
        "maximizer_scale": memory.maximizer_scale.tolist(),
        "input_bound": bound_label(memory.input_bound),
        "converged": bool(memory.converged),
        "fit": fit.to_dict(),
    }


def bound_label(input_bound: float) -> str:
    """``"1"``, ``"10"``, ``"inf"``: the bound as used in keys and legends."""
    return "inf" if math.isinf(input_bound) else f"{input_bound:g}"


def check_bound(name: str, value: Any) -> float:
    """An input bound: a number > 0, ``inf`` allowed."""
    try:
        bound = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number or inf, got {value!r}") from None
    if isinstance(value, bool) or math.isnan(bound) or bound <= 0:
        raise ValueError(f"{name} must be a positive number or inf, got {value!r}")
    return bound


def check_names(name: str, values: Sequence[str], choices: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of names, each one of ``choices``."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must name at least one of {', '.join(choices)}")
    for value in values:
        check_choice(name, value, choices)
    return values


def median_band(curves: Sequence[Sequence[float]], low: float = 10.0, high: float = 90.0) -> dict:
    """Pointwise median and ``[low, high]`` percentiles of equally long curves."""
    stack = np.asarray(curves, dtype=np.float64)  # (n_curves, length)
    return {
        "median": np.median(stack, axis=0).tolist(),
        "low": np.percentile(stack, low, axis=0).tolist(),
        "high": np.percentile(stack, high, axis=0).tolist(),
        "percentiles": [low, high],
        "n_curves": int(stack.shape[0]),
    }


def envelope_horizon(t: Sequence[float], values: Sequence[float], level: float = 1e-2) -> float:
    """First time after which the memory stays below ``level`` x its peak (``inf`` if never).

    The upper envelope ``max_{s >= t} M(s)`` is compared, so oscillations that dip below
    the level and come back do not end the horizon early.
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    envelope = np.maximum.accumulate(values[::-1])[::-1]
    below = np.flatnonzero(envelope < level * values.max())
    return float(t[below[0]]) if below.size else math.inf


def loglog_band(ax, t: Sequence[float], band: dict, label: str, color=None) -> None:
    """Median line and shaded percentile band on log-log axes (t > 0, values > 0 only)."""
    t = np.asarray(t, dtype=np.float64)
    median, low, high = (np.asarray(band[k]) for k in ("median", "low", "high"))
    keep = (t > 0) & (median > 0)
    (line,) = ax.loglog(t[keep], median[keep], label=label, color=color, lw=1.2)
    floor = np.maximum(low[keep], 1e-300)
    ax.fill_between(t[keep], floor, high[keep], color=line.get_color(), alpha=0.2, lw=0)
