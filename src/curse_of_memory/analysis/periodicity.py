"""Is a curve periodic, and with which period? (used for periodic memory functions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from curse_of_memory._validation import check_positive_float

# A lag counts as "the" period when its correlation is within this of the best lag's:
# multiples of the period correlate as well as the period itself, so the smallest
# near-best lag is the fundamental one.
_NEAR_BEST = 0.02


@dataclass
class Periodicity:
    """Result of :func:`estimate_period`.

    Attributes
    ----------
    period: the fundamental period (time units), refined between grid lags; ``nan`` when
        no lag in the searched range correlates positively.
    correlation: Pearson correlation of the curve with itself shifted by the period (at
        the nearest grid lag); 1 for an exactly periodic sampled curve.
    amplitude_ratio: peak-to-peak range of the last period over that of the first period
        of the analysed tail; about 1 for a sustained oscillation, < 1 when it dies out.
    window: ``(t_start, t_end)`` of the analysed tail.
    """

    period: float
    correlation: float
    amplitude_ratio: float
    window: tuple[float, float]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["window"] = list(self.window)
        return out


def estimate_period(
    t: np.ndarray,
    values: np.ndarray,
    *,
    min_period: float | None = None,
    max_period: float | None = None,
    tail_fraction: float = 0.5,
) -> Periodicity:
    """Fundamental period of a uniformly sampled curve from its lagged self-correlation.

    The last ``tail_fraction`` of the curve is used (transients dropped). For every lag k
    the Pearson correlation r(k) of ``v[:-k]`` and ``v[k:]`` is computed; the period is
    the smallest lag that is a local maximum of r with r within 0.02 of the best lag,
    refined by a parabola through r at the neighbouring lags.

    Parameters
    ----------
    t: ``(n,)`` uniformly spaced, increasing times.
    values: ``(n,)`` finite samples.
    min_period, max_period: searched range (default: 2 samples .. half the tail).
    tail_fraction: fraction of the curve (at its end) analysed, in (0, 1].
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != values.shape or t.size < 8:
        raise ValueError(
            f"t and values must be 1-D of equal length >= 8, got {t.shape}, {values.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(values))):
        raise ValueError("t and values must be finite")
    step = np.diff(t)
    if np.any(step <= 0) or np.ptp(step) > 1e-6 * step.mean():
        raise ValueError("t must be increasing and uniformly spaced")
    tail_fraction = check_positive_float("tail_fraction", tail_fraction)
    if tail_fraction > 1:
        raise ValueError(f"tail_fraction must be in (0, 1], got {tail_fraction}")
    dt = float(step.mean())
    start = int(round((1.0 - tail_fraction) * t.size))
    tail_t, tail = t[start:], values[start:]
    lo = (
        2
        if min_period is None
        else max(2, int(np.floor(check_positive_float("min_period", min_period) / dt)))
    )
    hi = (
        tail.size // 2
        if max_period is None
        else int(np.ceil(check_positive_float("max_period", max_period) / dt))
    )
    hi = min(hi, tail.size - 3)
    window = (float(tail_t[0]), float(tail_t[-1]))
    if hi <= lo:
        raise ValueError(
            f"the searched period range [{lo * dt:.4g}, {hi * dt:.4g}] is empty for a tail of "
            f"{tail.size} samples; lengthen the curve or change min_period/max_period"
        )
    lags = np.arange(lo - 1, hi + 2)
    corr = np.array([_lag_correlation(tail, int(k)) for k in lags])
    inner = np.arange(1, lags.size - 1)
    peaks = inner[(corr[inner] >= corr[inner - 1]) & (corr[inner] >= corr[inner + 1])]
    peaks = peaks[corr[peaks] > 0]
    if peaks.size == 0:
        finite = corr[np.isfinite(corr)]
        best_corr = float(finite.max()) if finite.size else float("nan")
        return Periodicity(float("nan"), best_corr, float("nan"), window)
    best = float(corr[peaks].max())
    index = int(peaks[corr[peaks] >= best - _NEAR_BEST][0])
    lag = float(lags[index]) + _parabola_offset(corr[index - 1], corr[index], corr[index + 1])
    period = lag * dt
    per = int(round(lag))
    ratio = (
        float(np.ptp(tail[-per:]) / np.ptp(tail[:per])) if np.ptp(tail[:per]) > 0 else float("nan")
    )
    return Periodicity(period, float(corr[index]), ratio, window)


def _lag_correlation(values: np.ndarray, lag: int) -> float:
    a, b = values[:-lag], values[lag:]
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / norm) if norm > 0 else float("nan")


def _parabola_offset(left: float, centre: float, right: float) -> float:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through three equally spaced points."""
    curvature = left - 2.0 * centre + right
    if not np.isfinite(curvature) or curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
