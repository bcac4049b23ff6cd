"""Which part of a memory curve carries its decay law: window and fit points.

Window. It starts at ``t_start`` or where the curve first comes within 10 % of its
maximum (an initial rise is skipped; for a periodic or noisy curve the start does
not depend on which period happens to hold the largest sample) and ends at
``t_end`` or at the last value above the noise floor:

* the relative floor: values <= ``noise_floor * max`` are float64 rounding noise
  (default 1e-10);
* a rounding quantum: a curve that ends in exact zeros was rounded (or underflowed);
  its smallest positive value q is one quantum, and values below 100 q (whose
  rounding error exceeds 0.5 %) are cut;
* a noise plateau: a trailing stretch that is rough (neighbouring values differ by a
  median factor of e^0.25 = 1.28 or more), flat (its two halves' medians within a
  factor 2) and at least a decade below the peak is measurement noise, not memory;
  it is cut, with the points within ``floor_margin`` of its level. A smooth plateau
  (a constant or periodic memory) is kept: that is memory that does not decay.

Fit points. Where the curve oscillates (local maxima all over the window), the law
is fitted to its local maxima, i.e. to its upper envelope (Definition 3.2 concerns
how the supremum over later times decays); else to every point of the window.
"""

from __future__ import annotations

import numpy as np

START_FRACTION = 0.9  # the window starts at the first value within 10 % of the maximum
ROUGH = 0.25  # median |log(v_{i+1} / v_i)| of a noise plateau (10 % noise gives ~0.1)
FLAT = np.log(2.0)  # a plateau's halves differ by less than a factor 2
PLATEAU_BELOW_PEAK = 0.1  # a noise plateau lies at least a decade below the peak
QUANTUM_MARGIN = 100.0  # keep values of at least 100 rounding quanta
_BLOCKS = 40  # the tail is scanned for a plateau in steps of 1/40 of the window
_MIN_BLOCK = 10  # ... of at least 10 points


def window(
    t: np.ndarray,
    values: np.ndarray,
    t_lo: float | None,
    t_hi: float | None,
    noise_floor: float,
    floor_margin: float,
) -> tuple[int, int, str]:
    """Indices ``(first, last)`` (inclusive) of the fit window and what ended it."""
    inside = np.ones(t.size, dtype=bool)
    if t_lo is not None:
        inside &= t >= t_lo
    if t_hi is not None:
        inside &= t <= t_hi
    if not inside.any():
        raise ValueError(f"no points in the window [{t_lo}, {t_hi}] (t spans {t[0]}..{t[-1]})")
    idx = np.flatnonzero(inside)
    lo, hi = int(idx[0]), int(idx[-1])
    first = lo
    if t_lo is None:  # the first value within START_FRACTION of the maximum
        part = values[lo : hi + 1]
        first = lo + int(np.flatnonzero(part >= START_FRACTION * part.max())[0])
    peak = float(values[first : hi + 1].max())
    above = np.flatnonzero(values[first : hi + 1] > noise_floor * peak)
    if above.size == 0:
        return first, first - 1, "every value is at the noise floor"
    last, ended = first + int(above[-1]), ""
    if last < hi:
        ended = f"values below {noise_floor:g} of the peak (relative noise floor)"
    if t_hi is None:
        last, ended = _before_quantum(values, first, last, ended)
        last, ended = _before_plateau(values, first, last, peak, floor_margin, ended)
    return first, last, ended


def _before_quantum(values: np.ndarray, first: int, last: int, ended: str) -> tuple[int, str]:
    """Cut values below 100 rounding quanta when the curve ends in exact zeros."""
    if last + 1 >= values.size or np.any(values[last + 1 :] != 0):
        return last, ended
    part = values[first : last + 1]
    quantum = float(part[part > 0].min())
    keep = np.flatnonzero(part >= QUANTUM_MARGIN * quantum)
    if keep.size == 0 or first + int(keep[-1]) == last:
        return last, ended
    return first + int(keep[-1]), f"values below {QUANTUM_MARGIN:g} rounding quanta ({quantum:.3g})"


def _before_plateau(
    values: np.ndarray, first: int, last: int, peak: float, floor_margin: float, ended: str
) -> tuple[int, str]:
    """Cut a trailing noise plateau (rough, flat, a decade below the peak).

    The plateau grows from the end, one block (1/40 of the window, >= 10 points) at a
    time, while each new block is rough and its median within a factor 2 of the
    plateau's level so far.
    """
    step = max(_MIN_BLOCK, (last - first + 1) // _BLOCKS)
    start, level = last + 1, None
    while start - step >= first:
        block = values[start - step : start]
        block = block[block > 0]
        if block.size < _MIN_BLOCK // 2 or not _rough(block):
            break
        median = float(np.median(block))
        if level is None and median > PLATEAU_BELOW_PEAK * peak:
            break
        if level is not None and abs(np.log(median / level)) >= FLAT:
            break
        start -= step
        level = float(np.median(values[start : last + 1]))
    if level is None or last + 1 - start < 2 * step:
        return last, ended
    end = start - 1
    below = np.flatnonzero(values[first : end + 1] <= floor_margin * level)
    if below.size:
        end = first + int(below[0]) - 1
    return max(end, first), f"a noise plateau near {level:.3g} ({level / peak:.2g} of the peak)"


def _rough(block: np.ndarray) -> bool:
    """Neighbouring values differ by a median factor of at least e^ROUGH."""
    return float(np.median(np.abs(np.diff(np.log(block))))) >= ROUGH


def fit_points(values: np.ndarray, first: int, last: int, min_points: int) -> np.ndarray:
    """Indices of the points the law is fitted to: local maxima if the curve oscillates.

    Returns every index with a positive value in ``[first, last]`` unless the curve has
    at least ``min_points`` local maxima there (an oscillation or noise), in which
    case the local maxima (plus ``first``, the window's maximum) are returned.
    """
    index = np.arange(first, last + 1)
    index = index[values[index] > 0]
    if index.size < 3:
        return index
    v = values[first : last + 1]
    interior = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:])) + 1
    peaks = first + interior
    peaks = peaks[values[peaks] > 0]
    # An oscillation (or noise) over the whole window, not a few wiggles in one part:
    # at least min_points maxima, none of the gaps between them (and the window's
    # ends) longer than a quarter of the window.
    edges = np.concatenate([[first], peaks, [last]])
    if peaks.size < min_points or np.diff(edges).max() > (last - first) / 4:
        return index
    return np.concatenate([[first], peaks])
