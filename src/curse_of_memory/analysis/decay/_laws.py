"""Least-squares fits of the two decay laws to log M, and a noise estimate.

* exponential  M = C e^{-beta t}:       log M = log C - beta t
* power law    M = C (t + t0)^{-p}:     log M = log C - p log(t + t0),  t0 > -t_first

For a fixed offset t0 the power law is a straight line in log(t + t0); the offset is
chosen to minimise the residual (variable projection). As t0 -> infinity with
p / t0 fixed the power law tends to the exponential, so the power-law fit is never
worse than the exponential one; the offset says whether it found a genuine power
law: its local decay rate p / (t + t0) changes across the window by the factor
(t_last + t0) / (t_first + t0), against 1 for an exponential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

# The offset search spans e^u = t_first + t0 in [1e-3 dt_min, 1e4 span]: at the top the
# local rate changes by 1 + 1e-4 across the window (an exponential, for all purposes).
_OFFSET_LOW_FACTOR = 1e-3
_OFFSET_HIGH_FACTOR = 1e4
_OFFSET_GRID = 61


@dataclass
class LawFit:
    """One law fitted to ``log M``.

    Attributes
    ----------
    slope: -beta (exponential) or -p (power law).
    log_prefactor: log C.
    offset: t0 of the power law (``None`` for the exponential).
    residual: ``(n,)`` log M minus the fitted log law.
    rms: root-mean-square of ``residual`` (log units: 0.01 is a 1 % misfit).
    r2: coefficient of determination of log M.
    """

    slope: float
    log_prefactor: float
    offset: float | None
    residual: np.ndarray
    rms: float
    r2: float

    def rate_change(self, t_first: float, t_last: float) -> float:
        """Factor by which the local decay rate falls across ``[t_first, t_last]``."""
        if self.offset is None:
            return 1.0
        return (t_last + self.offset) / (t_first + self.offset)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares line y = slope x + intercept; returns slope, intercept, residual."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    denom = float(dx @ dx)
    slope = float(dx @ (y - ym)) / denom if denom > 0 else 0.0
    intercept = float(ym - slope * xm)
    return slope, intercept, y - (slope * x + intercept)


def _law(slope: float, intercept: float, offset: float | None, resid: np.ndarray,
         y: np.ndarray) -> LawFit:  # fmt: skip
    total = float(np.sum((y - y.mean()) ** 2))
    rss = float(resid @ resid)
    r2 = 1.0 - rss / total if total > 0 else 0.0
    return LawFit(slope, intercept, offset, resid, math.sqrt(rss / resid.size), r2)


def fit_exponential(t: np.ndarray, log_v: np.ndarray) -> LawFit:
    """log M = log C - beta t."""
    slope, intercept, resid = _line(t, log_v)
    return _law(slope, intercept, None, resid, log_v)


def fit_exponential_with_prefactor(t: np.ndarray, log_v: np.ndarray) -> LawFit:
    """log M = log C - beta t + q log t with q >= 0 (a rising power prefactor t^q).

    The memory of a linear recurrence with a repeated eigenvalue is (c_1 + c_2 t)
    e^{-beta t}; any such law decays exponentially (Definition 3.2). Its local decay
    rate beta - q / t increases towards beta, unlike a stretched exponential's.
    Falls back to the plain exponential where q would be negative or t <= 0.
    """
    plain = fit_exponential(t, log_v)
    if t[0] <= 0:
        return plain
    design = np.stack([np.ones_like(t), t, np.log(t)], axis=1)
    coef, *_ = np.linalg.lstsq(design, log_v, rcond=None)
    if coef[2] <= 0:
        return plain
    resid = log_v - design @ coef
    return _law(float(coef[1]), float(coef[0]), None, resid, log_v)


def fit_power_law(t: np.ndarray, log_v: np.ndarray, offset: float | None = None) -> LawFit:
    """log M = log C - p log(t + t0); t0 fitted (``offset=None``) or fixed (> -t[0])."""
    if offset is not None:
        slope, intercept, resid = _line(np.log(t + offset), log_v)
        return _law(slope, intercept, offset, resid, log_v)
    elapsed = t - t[0]  # t + t0 = elapsed + e^u with e^u = t[0] + t0 > 0

    def rss(u: float) -> float:
        _, _, resid = _line(np.log(elapsed + math.exp(u)), log_v)
        return float(resid @ resid)

    spacing = float(np.min(np.diff(t)))
    low = math.log(_OFFSET_LOW_FACTOR * spacing)
    high = math.log(_OFFSET_HIGH_FACTOR * max(float(elapsed[-1]), spacing))
    grid = np.linspace(low, high, _OFFSET_GRID)
    values = [rss(u) for u in grid]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    u = grid[best]
    if hi > lo:
        found = minimize_scalar(rss, bounds=(lo, hi), method="bounded",
                                options={"xatol": 1e-10})  # fmt: skip
        if found.fun <= values[best]:
            u = float(found.x)
    shift = math.exp(u)
    slope, intercept, resid = _line(np.log(elapsed + shift), log_v)
    return _law(slope, intercept, shift - t[0], resid, log_v)


def noise_level(residual: np.ndarray) -> float:
    """Robust standard deviation of the point-to-point noise in ``residual`` ``(n,)``.

    From second differences, so a smooth systematic misfit contributes (almost)
    nothing: 1.4826 median |r_{i+1} - 2 r_i + r_{i-1}| / sqrt(6) (for independent
    noise of standard deviation sigma the second difference has variance 6 sigma^2).
    """
    if residual.size < 4:
        return 0.0
    return 1.4826 * float(np.median(np.abs(np.diff(residual, 2)))) / math.sqrt(6.0)
