"""Exponential or polynomial? Decay-law fits of memory functions (SPEC Definition 3.2).

Two laws are fitted by least squares in log space on one window of the curve:

* exponential  M(t) ~ C e^{-beta t}:      log M = log C - beta t
* polynomial   M(t) ~ C (t + t0)^{-p}:   log M = log C - p log(t + t0)

The offset ``t0`` (default 1, in time units) makes the polynomial law exact for the
paper's targets 1/(t+1)^p (SPEC 7.2, eq 120) and keeps t = 0 usable; for a pure power
law t^{-p} pass ``t0`` small or start the window later (``t_start``), where
log(t + 1) - log t = O(1/t) no longer matters. The law with the larger coefficient of
determination R^2 (of log M) wins.

Window. It starts at ``t_start`` (default: the time of the maximum, so an initial rise
is skipped). It ends at ``t_end`` or, automatically, where the curve reaches its noise
floor: the first value <= ``noise_floor * max`` (relative; default 1e-12, safely above
float64 rounding) or, earlier, where the decaying envelope stops decreasing (the running
block maxima of the curve no longer fall: flat or non-monotone noise) at a level below
1e-6 of the peak (a stall above that is real behaviour and stays); when such a
plateau is found, points within a factor ``floor_margin`` of its median level are cut
too. If fewer than ``min_points`` points remain, or neither law reaches ``min_r2``, or
the best law does not decay, the law is ``"undetermined"`` (no error is raised; the
reason is in ``.reason``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from curse_of_memory._validation import check_finite_float, check_positive_float, check_positive_int

LAWS = ("exponential", "polynomial", "undetermined")
_FIT_FIELDS = (
    "exp_rate", "exp_prefactor", "pol_exponent", "pol_prefactor", "r2_exponential", "r2_polynomial"
)  # fmt: skip


@dataclass
class DecayFit:
    """Result of :func:`fit_decay`.

    Attributes
    ----------
    law: ``"exponential"``, ``"polynomial"`` or ``"undetermined"``.
    rate: beta of e^{-beta t} when the law is exponential, else ``None``.
    exponent: p of (t + t0)^{-p} when the law is polynomial, else ``None``.
    exp_rate, exp_prefactor: fitted beta and C of the exponential law (``None`` if no fit).
    pol_exponent, pol_prefactor: fitted p and C of the polynomial law (``None`` if no fit).
    r2_exponential: R^2 of log M against t on the window (``None`` if no fit).
    r2_polynomial: R^2 of log M against log(t + t0) on the window (``None`` if no fit).
    window: ``(t_start, t_end)`` of the points used (inclusive).
    n_points: number of points used.
    t0: offset of the polynomial law.
    reason: why the law is undetermined (empty otherwise).
    """

    law: str
    rate: float | None
    exponent: float | None
    exp_rate: float | None
    exp_prefactor: float | None
    pol_exponent: float | None
    pol_prefactor: float | None
    r2_exponential: float | None
    r2_polynomial: float | None
    window: tuple[float, float]
    n_points: int
    t0: float
    reason: str = ""

    @property
    def t_start(self) -> float:
        return self.window[0]

    @property
    def t_end(self) -> float:
        return self.window[1]

    def predict(self, t: np.ndarray | float) -> np.ndarray:
        """The winning law's fitted curve at times ``t`` (raises if undetermined)."""
        t = np.asarray(t, dtype=np.float64)
        if self.law == "exponential":
            return self.exp_prefactor * np.exp(-self.exp_rate * t)
        if self.law == "polynomial":
            return self.pol_prefactor * (t + self.t0) ** (-self.pol_exponent)
        raise ValueError(f"no decay law to predict with: {self.reason}")

    def short(self) -> str:
        """Compact label, e.g. ``"exp, rate 0.105"`` or ``"pol, exponent 1.50"``."""
        if self.law == "exponential":
            return f"exp, rate {self.rate:.3g}"
        if self.law == "polynomial":
            return f"pol, exponent {self.exponent:.3g}"
        return "undetermined"

    def summary(self) -> str:
        """Plain-language verdict with both fit qualities and the window."""
        where = f"t in [{self.window[0]:.4g}, {self.window[1]:.4g}], {self.n_points} points"
        if self.law == "exponential":
            return (
                f"exponential decay, rate {self.rate:.4g} per unit time (R^2 "
                f"{self.r2_exponential:.4f}; polynomial R^2 {self.r2_polynomial:.4f}; {where})"
            )
        if self.law == "polynomial":
            return (
                f"polynomial decay, exponent {self.exponent:.4g} (R^2 {self.r2_polynomial:.4f}; "
                f"exponential R^2 {self.r2_exponential:.4f}; {where})"
            )
        return f"undetermined decay: {self.reason} ({where})"

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["window"] = list(self.window)
        return out


def fit_decay(
    memory: Any,
    *,
    t_start: float | None = None,
    t_end: float | None = None,
    t0: float = 1.0,
    noise_floor: float = 1e-12,
    floor_margin: float = 100.0,
    min_points: int = 8,
    min_r2: float = 0.8,
) -> DecayFit:
    """Classify a memory function's decay as exponential or polynomial.

    Parameters
    ----------
    memory:
        A :class:`~curse_of_memory.analysis.memory.MemoryFunction` or a pair
        ``(t, values)`` of 1-D arrays of equal length (t strictly increasing, >= 0;
        values >= 0, finite).
    t_start, t_end:
        Window limits (inclusive). Defaults: the time of the maximum; the noise floor
        (see the module docstring). An explicit ``t_end`` disables the plateau search
        but not the ``noise_floor`` cut.
    t0:
        Offset of the polynomial law (t + t0)^{-p}, > 0.
    noise_floor:
        Values <= ``noise_floor * max(values)`` end the window (relative, in (0, 1)).
    floor_margin:
        After a detected plateau, values below ``floor_margin`` x its median are cut.
    min_points:
        Fewer points left than this (>= 3) gives ``law="undetermined"``.
    min_r2:
        If neither law reaches this R^2 the law is ``"undetermined"``.

    Returns
    -------
    DecayFit
    """
    t, values = _as_arrays(memory)
    t0 = check_positive_float("t0", t0)
    noise_floor = check_positive_float("noise_floor", noise_floor)
    if noise_floor >= 1:
        raise ValueError(
            f"noise_floor must be in (0, 1) (relative to the maximum), got {noise_floor}"
        )
    floor_margin = check_positive_float("floor_margin", floor_margin)
    min_points = check_positive_int("min_points", min_points)
    if min_points < 3:
        raise ValueError(f"min_points must be >= 3, got {min_points}")
    min_r2 = check_finite_float("min_r2", min_r2)
    t_lo = None if t_start is None else check_finite_float("t_start", t_start)
    t_hi = None if t_end is None else check_finite_float("t_end", t_end)
    if t_lo is not None and t_hi is not None and t_hi <= t_lo:
        raise ValueError(f"t_end must be greater than t_start, got t_start={t_lo}, t_end={t_hi}")

    first, last = _window(t, values, t_lo, t_hi, noise_floor, floor_margin)
    window_t, window_v = t[first : last + 1], values[first : last + 1]
    window = (float(t[first]), float(t[last])) if last >= first else (float(t[first]),) * 2
    n = int(window_t.size)
    if n < min_points:
        reason = f"only {n} point(s) in the decaying part above the noise floor (need {min_points})"
        no_fit = dict.fromkeys(_FIT_FIELDS)
        return DecayFit("undetermined", None, None, **no_fit, window=window, n_points=n, t0=t0,
                        reason=reason)  # fmt: skip

    log_v = np.log(window_v)
    slope_e, icpt_e, r2_e = _line_fit(window_t, log_v)  # log M = log C - beta t
    slope_p, icpt_p, r2_p = _line_fit(np.log(window_t + t0), log_v)  # log M = log C - p log(t+t0)
    values_fit = (-slope_e, math.exp(icpt_e), -slope_p, math.exp(icpt_p), r2_e, r2_p)
    fits = dict(zip(_FIT_FIELDS, values_fit, strict=True))
    law = "exponential" if r2_e >= r2_p else "polynomial"
    decay = -slope_e if law == "exponential" else -slope_p
    reason = ""
    if max(r2_e, r2_p) < min_r2:
        law, reason = "undetermined", f"neither law fits (R^2 {r2_e:.3g}, {r2_p:.3g} < {min_r2})"
    elif decay <= 0:
        law, reason = "undetermined", "the best-fitting law does not decay"
    return DecayFit(
        law,
        rate=decay if law == "exponential" else None,
        exponent=decay if law == "polynomial" else None,
        **fits,
        window=window,
        n_points=n,
        t0=t0,
        reason=reason,
    )


def _as_arrays(memory: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(t, values)`` as float64 arrays, validated."""
    if hasattr(memory, "t") and hasattr(memory, "values"):
        t, values = memory.t, memory.values
    elif isinstance(memory, (tuple, list)) and len(memory) == 2:
        t, values = memory
    else:
        raise TypeError(
            f"memory must be a MemoryFunction or a pair (t, values), got {type(memory).__name__}"
        )
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or values.ndim != 1 or t.shape != values.shape:
        raise ValueError(
            f"t and values must be 1-D arrays of equal length, got shapes {t.shape}, {values.shape}"
        )
    if t.size < 3:
        raise ValueError(f"need at least 3 points, got {t.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(values))):
        raise ValueError("t and values must be finite")
    if np.any(np.diff(t) <= 0) or t[0] < 0:
        raise ValueError("t must be strictly increasing and >= 0")
    if np.any(values < 0):
        raise ValueError("memory values must be >= 0")
    if not np.any(values > 0):
        raise ValueError("memory values are all zero: nothing to fit")
    return t, values


def _window(
    t: np.ndarray,
    values: np.ndarray,
    t_lo: float | None,
    t_hi: float | None,
    noise_floor: float,
    floor_margin: float,
) -> tuple[int, int]:
    """Indices ``(first, last)`` (inclusive) of the fit window; ``last < first`` if empty."""
    inside = np.ones(t.size, dtype=bool)
    if t_lo is not None:
        inside &= t >= t_lo
    if t_hi is not None:
        inside &= t <= t_hi
    if not inside.any():
        raise ValueError(f"no points in the window [{t_lo}, {t_hi}] (t spans {t[0]}..{t[-1]})")
    idx = np.flatnonzero(inside)
    lo, hi = int(idx[0]), int(idx[-1])
    first = lo + int(np.argmax(values[lo : hi + 1])) if t_lo is None else lo
    # End at the first value at or below the relative noise floor (zeros included).
    threshold = noise_floor * float(values[first : hi + 1].max())
    below = np.flatnonzero(values[first : hi + 1] <= threshold)
    last = hi if below.size == 0 else first + int(below[0]) - 1
    if t_hi is None and last > first:
        last = _before_plateau(values, first, last, floor_margin)
    return first, last


# A stalled tail counts as a noise plateau only below this fraction of the peak: float64
# rounding noise sits near 1e-16..1e-13 of it, float32 noise near 1e-7.
_PLATEAU_CEILING = 1e-6


def _before_plateau(values: np.ndarray, first: int, last: int, floor_margin: float) -> int:
    """Cut the window where the decaying envelope stops decreasing (a noise plateau).

    The curve ``values[first:last+1]`` is split into blocks; while the block maxima keep
    falling the curve is still decaying. At the first block whose maximum is not below
    the previous one, the window ends before the previous block, and points within
    ``floor_margin`` of the plateau's median level are removed as well.
    """
    n = last - first + 1
    width = max(3, n // 40)
    n_blocks = n // width
    if n_blocks < 3:
        return last
    block_max = values[first : first + n_blocks * width].reshape(n_blocks, width).max(1)
    rising = np.flatnonzero(block_max[1:] >= block_max[:-1])
    if rising.size == 0:
        return last
    plateau_block = int(rising[0])  # block where the decay has stalled
    end = first + plateau_block * width - 1  # end of the last block still decaying
    level = float(np.median(values[first + plateau_block * width : last + 1]))
    if level > _PLATEAU_CEILING * float(block_max.max()):
        # A stall far above rounding level is real behaviour (a bump, an oscillation,
        # non-decaying memory), not a noise floor: keep it in the window.
        return last
    above = np.flatnonzero(values[first : end + 1] <= floor_margin * level)
    if above.size:
        end = first + int(above[0]) - 1
    return max(end, first)


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line y = slope x + intercept and its R^2."""
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 0.0
    return float(slope), float(intercept), r2
