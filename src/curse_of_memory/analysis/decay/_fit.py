"""Exponential, polynomial, or neither? The decay law of a memory curve (Definition 3.2).

The law is a statement about the tail, so ``fit_decay`` works in four steps.

1. Window and fit points (``_window``): from the maximum to the noise floor; the
   local maxima where the curve oscillates.
2. Noise and non-decay. If neighbouring fit points scatter by a median factor of
   e^0.5 or more about the fitted trend, the curve is noise: undetermined. If the
   level of the last quarter of the window is within ``NON_DECAY_DROP`` (2 %) of the
   third quarter's, or below it by less than three standard errors of the noise,
   the memory does not decay on this window: non-decaying (also when the maximum
   comes at the end: a growing memory).
3. Tail. The laws are fitted to the points after the curve has lost half of its
   decay (in log M): the earlier part belongs to faster transients (sums of
   exponentials with very different rates, the early bend of (t + t0)^{-p}).
4. Verdict. Both laws are fitted to log M on the tail (``_laws``); the power law
   with a free offset t0 contains the exponential as its limit t0 -> infinity, so
   it always fits at least as well. A law *fits* when its rms misfit is within
   ``FIT_FACTOR`` (2) tolerances, the tolerance being the larger of the noise and
   ``RELATIVE_TOLERANCE`` (0.5 %) of the tail's decay in log M. Then:

   * polynomial, if the power law fits, beats the exponential significantly
     (sqrt(misfit_exp^2 - misfit_pol^2) > 2 tolerances) and is a genuine power law:
     its local rate p / (t + t0) falls by a factor ``MIN_SPAN`` (1.5) or more across
     the tail (a power law with a huge t0 is an exponential whose rate drifts);
   * exponential, if the exponential fits and the tail spans a factor of at least
     ``MIN_SPAN`` (1.5) in t; over a shorter span a power law with t0 >= 0 changes
     its local decay rate p / (t + t0) too little to be told from an exponential
     within the tolerance, so the verdict is undetermined;
   * if neither law fits, the local decay rate is measured on the thirds of the
     tail: exponential if the last two agree within ``RATE_SETTLED`` (3 %): the rate
     has settled, as for nonlinear models relaxing through several regimes or sums
     of exponentials with close rates (the rate reported is that of the last two
     thirds).
     Also exponential if the rates over six stretches of the tail rise and fall
     (no monotone trend): modes with close |eigenvalues| and different phases beat,
     so the rate wobbles about a constant (the rate reported is the tail's mean).
     Else other: the curve
     decays (step 2) but neither law describes its tail, e.g. stretched exponentials
     e^{-t^a}, 1 / log t, or a Gaussian (faster than any exponential);
   * undetermined otherwise (a borderline case between the first two).

The thresholds come from principles (what a 0.5 % misfit or a factor-2 span means)
and were checked on the synthetic battery of ``battery.known_curves`` (docs: the
accuracy table), never tuned on a paper figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curse_of_memory._validation import check_finite_float, check_positive_float, check_positive_int
from curse_of_memory.analysis.decay._laws import (
    LawFit,
    fit_exponential,
    fit_exponential_with_prefactor,
    fit_power_law,
    noise_level,
)
from curse_of_memory.analysis.decay._result import DecayFit
from curse_of_memory.analysis.decay._window import fit_points, window

RELATIVE_TOLERANCE = 2.5e-4  # a law may deviate by 0.025 % of the tail's decay (log M)
FIT_FACTOR = 2.0  # a law fits when its rms misfit is within 2 tolerances
MIN_SPAN = 1.5  # an exponential verdict needs t_end / t_start >= 1.5 on the tail
NON_DECAY_DROP = 0.02  # last quarter within 2 % of the third: no decay
NOISE_ONLY = 0.3  # point-to-point scatter of e^0.3 (35 %) or more: noise only
GROWTH = 0.1  # a maximum at the end, 10 % above the start: a growing memory
TAIL_FRACTION = 0.5  # the tail starts after half of the decay (in log M)
RATE_SETTLED = 0.03  # local rates of the last two thirds within 3 %: the rate has settled
TREND_SEGMENTS = 6  # a drifting rate changes monotonically over six stretches of the tail
MAX_MARGIN = 1000.0  # margins are reported up to 1000 (an exact law has no finite one)
_TINY = 1e-300


def fit_decay(
    memory: Any,
    *,
    t_start: float | None = None,
    t_end: float | None = None,
    t0: float | None = None,
    noise_floor: float = 1e-10,
    floor_margin: float = 100.0,
    min_points: int = 8,
) -> DecayFit:
    """Classify the decay law of a memory curve (module docstring for the method).

    Parameters
    ----------
    memory:
        A :class:`~curse_of_memory.analysis.memory.MemoryFunction` or a pair
        ``(t, values)`` of 1-D arrays of equal length (t strictly increasing, >= 0;
        values >= 0, finite).
    t_start, t_end:
        Explicit window (inclusive); the laws are then fitted to the whole window
        (no tail selection, no noise-plateau cut). Defaults: the time of the
        maximum, and the end of the usable curve.
    t0:
        Fix the offset of the power law (t + t0)^{-p} (> -t[0]); default: fitted.
    noise_floor:
        Values <= ``noise_floor * max(values)`` are rounding noise (relative, in (0, 1)).
        The default 1e-10 keeps a memory function's Heaviside differences, whose
        rounding error is about eps |y| / dt, accurate to ~1e-5 where they are used.
    floor_margin:
        Before a detected noise plateau, values below ``floor_margin`` x its level are
        cut as well (> 0).
    min_points:
        Fewer fit points than this (>= 3) gives ``law="undetermined"``.

    Returns
    -------
    DecayFit
    """
    t, values = _as_arrays(memory)
    t0 = None if t0 is None else check_finite_float("t0", t0)
    if t0 is not None and t0 <= -t[0]:
        raise ValueError(f"t0 must be > -t[0] = {-t[0]:g} (so that t + t0 > 0), got {t0}")
    noise_floor = check_positive_float("noise_floor", noise_floor)
    if noise_floor >= 1:
        raise ValueError(
            f"noise_floor must be in (0, 1) (relative to the maximum), got {noise_floor}"
        )
    floor_margin = check_positive_float("floor_margin", floor_margin)
    min_points = check_positive_int("min_points", min_points)
    if min_points < 3:
        raise ValueError(f"min_points must be >= 3, got {min_points}")
    t_lo = None if t_start is None else check_finite_float("t_start", t_start)
    t_hi = None if t_end is None else check_finite_float("t_end", t_end)
    if t_lo is not None and t_hi is not None and t_hi <= t_lo:
        raise ValueError(f"t_end must be greater than t_start, got t_start={t_lo}, t_end={t_hi}")

    first, last, ended = window(t, values, t_lo, t_hi, noise_floor, floor_margin)
    top, growth = _growth(t, values, t_lo, t_hi)
    if growth > 1 + GROWTH:
        reason = f"the memory grows: its maximum comes at the end of the window (t = {t[top]:.4g})"
        return _no_law("non-decaying", t, first, top, 1, reason, growth / (1 + GROWTH))
    points = fit_points(values, first, last, min_points)
    if points.size < min_points:
        reason = f"only {points.size} point(s) above the noise floor (need {min_points})"
        return _no_law("undetermined", t, first, last, points.size, _and(reason, ended))
    t_fit, log_v = t[points], np.log(values[points])
    scatter = noise_level(fit_power_law(t_fit, log_v, t0).residual)
    if scatter >= NOISE_ONLY:
        reason = f"noise only: neighbouring values scatter by a factor {math.exp(scatter):.3g}"
        return _no_law("undetermined", t, first, last, points.size, reason)
    flat, margin = _non_decaying(t_fit, log_v, scatter)
    if flat:
        return _no_law("non-decaying", t, first, last, points.size, flat, margin)
    if t_lo is None and t_hi is None:
        tail = _tail(log_v, min_points)
        t_fit, log_v = t_fit[tail:], log_v[tail:]
    return _verdict(t_fit, log_v, t0, ended)


@dataclass
class _Call:
    """A verdict before it becomes a :class:`DecayFit`."""

    law: str
    reason: str = ""
    tests: dict[str, float] = field(default_factory=dict)  # statistic / threshold, > 1 passes
    rate: float | None = None


def _verdict(t: np.ndarray, log_v: np.ndarray, t0: float | None, ended: str) -> DecayFit:
    """Step 4 of the module docstring on the tail points ``(t, log M)``."""
    exp_fit, pol_fit = fit_exponential_with_prefactor(t, log_v), fit_power_law(t, log_v, t0)
    noise = noise_level(pol_fit.residual)
    decay = float(log_v.max() - log_v.min())
    tolerance = max(noise, RELATIVE_TOLERANCE * decay, 1e-12)
    call = _decide(t, log_v, exp_fit, pol_fit, FIT_FACTOR * tolerance)
    # The exponential law C e^{-beta t} reported (and drawn by predict): the verdict's
    # rate, else the plain least-squares one; C matches the tail at that rate.
    beta = call.rate if call.law == "exponential" else -fit_exponential(t, log_v).slope
    log_c = float(np.mean(log_v + beta * t))
    return DecayFit(
        call.law,
        rate=beta if call.law == "exponential" else None,
        exponent=-pol_fit.slope if call.law == "polynomial" else None,
        exp_rate=beta,
        exp_prefactor=_exp(log_c),
        pol_exponent=-pol_fit.slope,
        pol_prefactor=_exp(pol_fit.log_prefactor),
        t0=pol_fit.offset,
        r2_exponential=exp_fit.r2,
        r2_polynomial=pol_fit.r2,
        misfit_exponential=exp_fit.rms,
        misfit_polynomial=pol_fit.rms,
        noise=noise,
        tolerance=tolerance,
        margin=min(min(call.tests.values()), MAX_MARGIN) if call.tests else None,
        window=(float(t[0]), float(t[-1])),
        n_points=int(t.size),
        reason=_and(call.reason, ended),
    )


def _decide(t: np.ndarray, log_v: np.ndarray, exp_fit: LawFit, pol_fit: LawFit,
            limit: float) -> _Call:  # fmt: skip
    """The verdict from both fits and the misfit limit (module docstring, step 4)."""
    gain = math.sqrt(max(exp_fit.rms**2 - pol_fit.rms**2, 0.0))  # what t0, p add
    # A power law whose local rate p / (t + t0) changes by less than MIN_SPAN across the
    # tail (t0 large) is an exponential with a drifting rate, not a power law.
    bend = pol_fit.rate_change(t[0], t[-1])
    pol_fits, exp_fits = pol_fit.rms <= limit and bend >= MIN_SPAN, exp_fit.rms <= limit
    if pol_fits and gain > limit:
        tests = {"fit": limit / max(pol_fit.rms, _TINY), "gain": gain / limit,
                 "bend": bend / MIN_SPAN}  # fmt: skip
        return _Call("polynomial", tests=tests)
    if exp_fits:
        span = t[-1] / t[0] if t[0] > 0 else math.inf
        if span < MIN_SPAN:
            reason = (f"the tail spans only a factor {span:.3g} in t (< {MIN_SPAN}): an "
                      "exponential and a power law fit it equally well")  # fmt: skip
            return _Call("undetermined", reason)
        tests = {"fit": limit / max(exp_fit.rms, _TINY), "no gain": limit / max(gain, _TINY)}
        return _Call("exponential", tests=tests, rate=-exp_fit.slope)
    if pol_fits:
        return _Call("undetermined", f"borderline: the power law fits (misfit "
                     f"{pol_fit.rms:.3g}) but is not clearly better than the exponential "
                     f"(misfit {exp_fit.rms:.3g})")  # fmt: skip
    misfits = f"rms misfit exp {exp_fit.rms:.3g}, pol {pol_fit.rms:.3g} > {limit:.3g}"
    rates = _local_rates(t, log_v)
    drift = rates[1] / rates[2] - 1 if rates[2] > 0 else math.inf
    listed = f"{rates[0]:.4g}, {rates[1]:.4g}, {rates[2]:.4g} over its thirds"
    if abs(drift) <= RATE_SETTLED and rates[2] > 0:
        reason = f"no single law fits the whole tail ({misfits}), but its local rate settles: "
        late = t >= t[0] + (t[-1] - t[0]) / 3  # the rate over the last two thirds
        settled = -fit_exponential(t[late], log_v[late]).slope
        return _Call("exponential", reason + listed,
                     {"settled": RATE_SETTLED / max(abs(drift), _TINY)}, rate=settled)  # fmt: skip
    sixths = _local_rates(t, log_v, TREND_SEGMENTS)
    steps = np.diff(sixths)
    if exp_fit.slope < 0 and min(sixths) > 0 and not (np.all(steps > 0) or np.all(steps < 0)):
        reason = (f"no single law fits the whole tail ({misfits}), but its local rate "
                  f"wobbles without a trend ({', '.join(f'{r:.3g}' for r in sixths)} over "
                  f"sixths of the tail)")  # fmt: skip
        return _Call("exponential", reason, {"settled": 1.0}, rate=-exp_fit.slope)
    reason = f"it decays, but neither law fits its tail ({misfits}) and its local rate drifts: "
    if drift < 0:
        listed += " (it grows: faster than any exponential)"
    tests = {"exp misfit": exp_fit.rms / limit,
             "no power law": max(pol_fit.rms / limit, MIN_SPAN / bend),
             "drift": abs(drift) / RATE_SETTLED}  # fmt: skip
    return _Call("other", reason + listed, tests)


def _exp(x: float) -> float:
    """e^x, ``inf`` on overflow (a degenerate power law: t0 -> infinity, C -> infinity)."""
    return math.exp(x) if x < 709.0 else math.inf


def _local_rates(t: np.ndarray, log_v: np.ndarray, parts: int = 3) -> list[float]:
    """Mean decay rates -d log M / dt over ``parts`` equal stretches (in t) of the tail."""
    edges = np.linspace(t[0], t[-1], parts + 1)
    rates = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        part = (t >= lo) & (t <= hi)
        rates.append(-fit_exponential(t[part], log_v[part]).slope if part.sum() >= 2 else 0.0)
    return rates


def _growth(t: np.ndarray, values: np.ndarray, t_lo: float | None, t_hi: float | None
            ) -> tuple[int, float]:  # fmt: skip
    """Index of the maximum and max / first value when the maximum is the last point."""
    lo = 0 if t_lo is None else int(np.searchsorted(t, t_lo))
    hi = t.size - 1 if t_hi is None else int(np.searchsorted(t, t_hi, side="right")) - 1
    top = lo + int(np.argmax(values[lo : hi + 1]))
    if top != hi or hi == lo:
        return top, 0.0
    return top, math.inf if values[lo] <= 0 else float(values[top] / values[lo])


def _non_decaying(t: np.ndarray, log_v: np.ndarray, scatter: float) -> tuple[str, float]:
    """Why the curve does not decay on its window (``""`` if it does), and the margin."""
    span = t[-1] - t[0]
    third = log_v[(t >= t[0] + 0.5 * span) & (t < t[0] + 0.75 * span)]
    fourth = log_v[t >= t[0] + 0.75 * span]
    if third.size < 2 or fourth.size < 2:
        return "", 0.0
    drop = float(np.median(third) - np.median(fourth))
    # Standard error of a difference of two medians (1.25 sigma / sqrt(n) each).
    error = 1.25 * scatter * math.sqrt(1 / third.size + 1 / fourth.size)
    threshold = max(NON_DECAY_DROP, 3 * error)
    if drop >= threshold:
        return "", 0.0
    reason = (
        f"no decay on the window: the last quarter's level is {math.exp(-drop):.4g} x the "
        f"third quarter's (a decay needs a drop of more than {threshold:.2g} in log M)"
    )
    return reason, min(threshold / max(drop, _TINY), MAX_MARGIN)


def _tail(log_v: np.ndarray, min_points: int) -> int:
    """Index of the first tail point: after half of the decay, at most n - min_points."""
    running_min = np.minimum.accumulate(log_v)
    decay = float(log_v[0] - running_min[-1])
    after = np.flatnonzero(running_min <= log_v[0] - TAIL_FRACTION * decay)
    start = int(after[0]) if after.size else 0
    return min(start, log_v.size - min_points)


def _no_law(law: str, t: np.ndarray, first: int, last: int, n: int, reason: str,
            margin: float | None = None) -> DecayFit:  # fmt: skip
    window = (float(t[first]), float(t[max(last, first)]))
    empty = dict.fromkeys(
        ("rate", "exponent", "exp_rate", "exp_prefactor", "pol_exponent", "pol_prefactor",
         "t0", "r2_exponential", "r2_polynomial", "misfit_exponential", "misfit_polynomial",
         "noise", "tolerance")
    )  # fmt: skip
    margin = None if margin is None else min(margin, MAX_MARGIN)
    return DecayFit(law, **empty, margin=margin, window=window, n_points=n, reason=reason)


def _and(reason: str, ended: str) -> str:
    if not ended:
        return reason
    return f"{reason}; window ended by {ended}" if reason else f"window ended by {ended}"


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
