"""Stability verdict from perturbation curves of growing width (paper Def 3.5, Remark 3.6).

A target admits a beta_0-stable approximation when E_m(0) -> 0 and the limit curve
E(beta) = limsup_m E_m(beta) is continuous on [0, beta_0] (paper eq 12); the approximation
is unstable when E(0) = 0 but lim_{beta -> 0} E(beta) > 0. From curves at finitely many
widths m_1 < ... < m_n on a common beta grid, :func:`stability_verdict` estimates this:

1. **Approximation.** E_m(0) must fall with m: ``E_{m_n}(0) < E_{m_1}(0)`` (or both at
   the error floor ``resolution``). Otherwise there is no approximation to be stable.
2. **Limit curve.** E(beta) is estimated by the upper envelope of the larger half of the
   widths, ``max_{m >= m_{n//2}} E_m(beta)`` (a finite stand-in for the limsup).
3. **Crossings shift left** (paper Fig 1(b)). For each pair of consecutive widths, the
   crossing ``c_i`` is the first beta > 0 from which the larger width does worse by more
   than the factor ``1 + margin`` (at 3 of the next 4 grid points, or at all that remain),
   placed between grid points by log-log interpolation (only where the smaller width is at
   most ``ceiling``). If the crossings move left as m grows, at every fixed beta the error
   eventually grows with m, so E(beta) stays away from E(0) as beta -> 0. Signature: the
   last pair's crossing is at least ``shift_factor`` times smaller than the largest
   crossing of the earlier pairs (a pair that never crosses counts as crossing at the
   largest beta of the grid, or at the last one where its smaller width is at most
   ``ceiling``).
4. **Growth at fixed small beta.** From the smallest beta > 0 where the excess
   ``E_m(beta) - E_m(0)`` of every larger width is at least ``resolve`` times ``E_m(0)``, the
   log-log slope in m of the error ``E_m(beta)`` itself over the larger widths is at least
   ``growth_slope`` at 3 of 4 consecutive grid points (at least 3 points), up to the
   last beta where every larger width is finite and below ``ceiling``: the error keeps
   growing with m (this also catches crossings that all lie below the grid). The slope is
   taken on the error, not on the excess: curves that merge into a common limit L(beta)
   have an excess ``L(beta) - E_m(0)`` that grows with m only because E_m(0) falls.
5. **Jump at 0.** If the limit curve rises above E(0) at the smallest betas and stays flat
   there (log-log slope of ``E(beta) - E(0)`` over the three smallest positive betas below
   ``flat_slope``, while the excess exceeds ``jump_ratio`` times E(0)), E jumps at 0 already
   on the grid. So it does when the limit curve is above ``ceiling`` (a blow-up) already at
   the smallest beta > 0.
6. **Verdict.** Unstable when (1) fails or (3), (4) or (5) is seen; stable otherwise, with
   beta_0 = the smallest crossing among the larger widths (where a larger width starts to do
   worse; beyond it the sweep does not resolve E), or the largest beta of the grid when they
   never cross, and never past the first beta where the limit curve is infinite or above
   ``ceiling`` (a blow-up; e.g. the error of predicting zero).

The default thresholds were fixed on synthetic families whose limit is known in closed form
(``tests/stability_battery.py``; accuracy table in ``docs/instruments.md``), never on the
paper's figures. What a finite sweep cannot resolve: a jump smaller than about twice the
largest width's own E(0), a logarithmically slow blow-up, a continuous limit rising like
beta^a with ``a < flat_slope`` (reads as a jump), and an instability whose crossings all lie
beyond the grid.

:func:`stability_radius` is a separate diagnostic: the per-width small-error radius at a
common error level (the paper's "small-error radius shrinks", Fig 1(b) caption).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from curse_of_memory._validation import check_finite_float, check_positive_float
from curse_of_memory.analysis.curves import PerturbationCurve

_TINY = 1e-300  # keeps log() finite for errors that are exactly 0
_PERSIST = 4  # a crossing must hold at 3 of the next 4 grid points (all of them near the end)


@dataclass
class StabilityVerdict:
    """Outcome of :func:`stability_verdict`.

    Attributes
    ----------
    stable: True when the sweep supports a beta_0-stable approximation (Def 3.5).
    beta0: estimated beta_0 (0.0 when unstable); a lower bound when the curves never
        cross (then it is the largest beta of the grid).
    reason: the verdict and its evidence in words.
    widths: ``(n,)`` widths m, ascending.
    betas: ``(n_beta,)`` the common beta grid (``betas[0] = 0``).
    limit_errors: ``(n_beta,)`` estimated limit curve E(beta) (upper envelope of the
        larger half of the widths).
    limit_widths: the widths of that envelope.
    unperturbed_errors: ``(n,)`` E_m(0).
    crossings: ``(n - 1,)`` crossing beta of each consecutive pair (``inf``: never
        crosses on the grid; ``nan``: the larger width is not better at beta = 0).
    evidence: numbers behind the signatures (approximated, shift_ratio, shifts_left,
        growth_beta, growth_slope, grows, jump_excess, jump_slope, jumps, blows_up_at_once).
    settings: the thresholds used.
    """

    stable: bool
    beta0: float
    reason: str
    widths: np.ndarray
    betas: np.ndarray
    limit_errors: np.ndarray
    limit_widths: list[int]
    unperturbed_errors: np.ndarray
    crossings: np.ndarray
    evidence: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form (``inf``/``nan`` crossings as ``None`` with a flag list)."""

        def number(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "stable": bool(self.stable),
            "beta0": float(self.beta0),
            "reason": self.reason,
            "widths": [int(m) for m in self.widths],
            "betas": [float(b) for b in self.betas],
            "limit_errors": [number(e) for e in self.limit_errors],
            "limit_widths": [int(m) for m in self.limit_widths],
            "unperturbed_errors": [float(e) for e in self.unperturbed_errors],
            "crossings": [number(c) for c in self.crossings],
            "crossing_kinds": [
                "crossed" if math.isfinite(c) else ("never" if c == math.inf else "undefined")
                for c in self.crossings
            ],
            "evidence": self.evidence,
            "settings": self.settings,
        }


@dataclass
class SmallErrorRadii:
    """Outcome of :func:`stability_radius` (a diagnostic, not a verdict).

    Attributes
    ----------
    widths: ``(n,)`` widths m, ascending.
    radii: ``(n,)`` largest beta on the grid with E_m(beta) <= tolerance (0 when only
        beta = 0, or nothing, qualifies).
    tolerance: the common error level.
    """

    widths: np.ndarray
    radii: np.ndarray
    tolerance: float

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "widths": [int(m) for m in self.widths],
            "radii": [float(r) for r in self.radii],
            "tolerance": float(self.tolerance),
        }


def _sorted_curves(
    curves: Mapping[int, PerturbationCurve] | Sequence[PerturbationCurve], min_widths: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(widths (n,), betas (n_beta,), errors (n, n_beta))``, errors running-maxed."""
    if isinstance(curves, Mapping):
        items = list(curves.items())
    elif isinstance(curves, Sequence) and not isinstance(curves, (str, bytes)):
        items = [(getattr(c, "width", None), c) for c in curves]
    else:
        raise TypeError(
            f"curves must be a dict width -> PerturbationCurve, got {type(curves).__name__}"
        )
    if len(items) < min_widths:
        raise ValueError(f"curves must hold at least {min_widths} widths, got {len(items)}")
    for m, curve in items:
        if not isinstance(curve, PerturbationCurve):
            raise TypeError(f"curves must be PerturbationCurve objects, got {type(curve).__name__}")
        if m is None or isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"every curve needs a positive integer width, got {m!r}")
    items.sort(key=lambda item: item[0])
    widths = np.array([int(m) for m, _ in items])
    if np.unique(widths).size != widths.size:
        raise ValueError(f"widths must be distinct, got {widths.tolist()}")
    betas = np.asarray(items[0][1].betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size < 4 or betas[0] != 0.0 or np.any(np.diff(betas) <= 0):
        raise ValueError(
            "betas must start at 0, be strictly ascending and have at least 4 values "
            "(0 and three positive radii)"
        )
    rows = []
    for m, curve in items:
        if not np.array_equal(np.asarray(curve.betas, dtype=np.float64), betas):
            raise ValueError(f"curve of width {m} uses different betas from width {widths[0]}")
        errors = np.asarray(curve.errors, dtype=np.float64)
        if errors.shape != betas.shape:
            raise ValueError(f"curve of width {m}: errors must have shape {betas.shape}")
        if np.any(np.isnan(errors)) or np.any(errors < 0):
            raise ValueError(f"curve of width {m} contains NaN or negative errors")
        if not np.isfinite(errors[0]):
            raise ValueError(f"curve of width {m}: the unperturbed error E_m(0) must be finite")
        rows.append(np.maximum.accumulate(errors))  # E_m is a sup over growing balls
    return widths, betas, np.stack(rows)


def _log_ratio(upper: np.ndarray, lower: np.ndarray, floor: float) -> np.ndarray:
    """``log((upper + floor) / (lower + floor))`` with inf/inf read as a tie (0)."""
    a, b = upper + floor, lower + floor
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.log(a) - np.log(b)
    return np.where(np.isinf(a) & np.isinf(b), 0.0, out)


def _usable(errors: np.ndarray, ceiling: float) -> int:
    """Number of leading betas where ``errors`` (non-decreasing) is at most ``ceiling``."""
    return int(np.argmin(errors <= ceiling)) if np.any(errors > ceiling) else errors.size


def _horizon(betas: np.ndarray, errors: np.ndarray, ceiling: float) -> float:
    """The largest beta where ``errors`` is at most ``ceiling`` (``betas[0]`` if none)."""
    return float(betas[max(_usable(errors, ceiling) - 1, 0)])


def _crossing(
    betas: np.ndarray,
    smaller: np.ndarray,
    larger: np.ndarray,
    floor: float,
    margin: float,
    ceiling: float,
) -> float:
    """First beta > 0 from which ``larger`` stays above ``(1 + margin) * smaller``.

    Only the betas where ``smaller`` is at most ``ceiling`` count (the persistence rule
    ends with them): past it the smaller width approximates nothing, and doing worse than
    it says nothing about beta -> 0.
    ``nan`` when ``larger`` is not below ``smaller`` at beta = 0, ``inf`` when it never
    crosses. Between grid points the crossing is interpolated linearly in log beta.
    """
    gap = _log_ratio(larger, smaller, floor) - math.log1p(margin)  # (n_beta,)
    if not _log_ratio(larger[:1], smaller[:1], floor)[0] < 0:
        return math.nan
    usable = _usable(smaller, ceiling)  # non-decreasing errors: the usable betas are a prefix
    above = gap[:usable] > 0
    for k in range(1, usable):
        if above[k] and above[k : k + _PERSIST].mean() >= 0.75:
            if k == 1 or not np.isfinite(gap[k]) or not np.isfinite(gap[k - 1]):
                return float(betas[k])
            fraction = -gap[k - 1] / (gap[k] - gap[k - 1])  # gap[k-1] <= 0 < gap[k]
            log_beta = math.log(betas[k - 1]) + fraction * math.log(betas[k] / betas[k - 1])
            return float(math.exp(log_beta))
    return math.inf


def _jump_evidence(betas: np.ndarray, limit: np.ndarray, floor: float) -> tuple[float, float]:
    """(excess, slope): ``(L(beta_1) - L(0)) / L(0)`` and the log-log slope of ``L - L(0)``
    over the three smallest positive betas (``nan`` when the excess is not positive there)."""
    base = limit[0] + floor
    excess = limit[1:4] - limit[0]  # (3,)
    ratio = float(excess[0] / base) if np.isfinite(excess[0]) else math.inf
    if not (np.all(excess > 0) and np.all(np.isfinite(excess))):
        return ratio, math.nan
    slope = np.polyfit(np.log(betas[1:4]), np.log(excess), 1)[0]
    return ratio, float(slope)


def _growth_evidence(
    betas: np.ndarray,
    widths: np.ndarray,
    errors: np.ndarray,
    floor: float,
    resolve: float,
    growth_slope: float,
    ceiling: float,
) -> tuple[float, float, bool]:
    """(beta*, slope, grows): whether the error ``E_m(beta)`` of the larger half of the widths
    keeps growing with m, where, and its log-log slope in m there.

    The search starts at the smallest beta > 0 where every such excess
    ``E_m(beta) - E_m(0)`` is at least ``resolve`` times ``E_m(0)`` and runs while every
    larger width is finite and at most ``ceiling``. beta* is the first beta whose slope is at
    least ``growth_slope`` at 3 of the next 4 points (at least 3 points); when
    there is none, ``grows`` is False and the largest slope seen is returned with its beta
    (``(nan, nan, False)`` when no beta qualifies).
    """
    upper = errors[widths.size // 2 :]
    m = np.log(widths[widths.size // 2 :].astype(np.float64))
    base = upper[:, :1] + floor  # (n_upper, 1)
    excess = upper - upper[:, :1]  # (n_upper, n_beta)
    with np.errstate(invalid="ignore"):
        resolved = np.all((excess >= resolve * base) & np.isfinite(excess), axis=0)
        usable = np.all(np.isfinite(upper) & (upper <= ceiling), axis=0)
    resolved[0] = False
    found = np.flatnonzero(resolved)
    if not found.size:
        return math.nan, math.nan, False
    steps = [k for k in range(found[0], betas.size) if usable[k]]
    if not steps:
        return math.nan, math.nan, False
    slopes = np.array([np.polyfit(m, np.log(upper[:, k] + floor), 1)[0] for k in steps])
    above = slopes >= growth_slope
    for i in range(len(steps)):
        if above[i] and above[i : i + _PERSIST].sum() >= _PERSIST - 1:
            return float(betas[steps[i]]), float(slopes[i]), True
    i = int(np.argmax(slopes))
    return float(betas[steps[i]]), float(slopes[i]), False


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def stability_verdict(
    curves: Mapping[int, PerturbationCurve] | Sequence[PerturbationCurve],
    *,
    margin: float = 0.25,
    shift_factor: float = 2.0,
    growth_slope: float = 0.3,
    resolve: float = 0.5,
    jump_ratio: float = 1.0,
    flat_slope: float = 0.25,
    resolution: float = 0.0,
    ceiling: float = math.inf,
) -> StabilityVerdict:
    """Decide stable vs unstable approximation from a width sweep (paper Def 3.5).

    Parameters
    ----------
    curves: dict width -> :class:`PerturbationCurve` (or a sequence of curves with
        ``.width`` set), at least 3 widths, all on the same beta grid starting at 0 with at
        least three positive radii. Errors are read as a running maximum in beta.
    margin: a larger width "does worse" when its error exceeds the smaller width's by
        more than the factor ``1 + margin`` (> 0; absorbs sampling noise).
    shift_factor: crossings "shift left" when the last pair's crossing is this many times
        smaller than the largest earlier one (> 1).
    growth_slope: the error E_m(beta) "keeps growing with m" when its log-log slope in m
        over the larger widths is at least this (> 0), at 3 of 4 consecutive betas.
    resolve: ... looked for from the smallest beta where every excess ``E_m(beta) - E_m(0)``
        is at least ``resolve`` times ``E_m(0)`` (> 0; smaller excesses are not told from noise).
    jump_ratio: a jump at 0 needs ``L(beta_1) - L(0) >= jump_ratio * L(0)`` (> 0).
    flat_slope: ... and a log-log slope of ``L(beta) - L(0)`` below this over the three
        smallest positive betas (> 0).
    resolution: error floor (>= 0, same units as the errors): differences below it are not
        meaningful, e.g. float64 rounding of an exactly representable target.
    ceiling: errors above it count as a blow-up (> 0, e.g. the error of predicting zero):
        beta_0 is at most the last beta where the limit curve stays at or below it, a
        crossing (3) counts only where the smaller width stays at or below it, and the
        growth test (4) only where every larger width does.

    Returns
    -------
    StabilityVerdict (see the module docstring for the estimator).
    """
    widths, betas, errors = _sorted_curves(curves, min_widths=3)
    margin = check_positive_float("margin", margin)
    shift_factor = check_positive_float("shift_factor", shift_factor)
    if shift_factor <= 1:
        raise ValueError(f"shift_factor must be > 1, got {shift_factor}")
    growth_slope = check_positive_float("growth_slope", growth_slope)
    resolve = check_positive_float("resolve", resolve)
    jump_ratio = check_positive_float("jump_ratio", jump_ratio)
    flat_slope = check_positive_float("flat_slope", flat_slope)
    resolution = check_finite_float("resolution", resolution)
    if resolution < 0:
        raise ValueError(f"resolution must be >= 0, got {resolution}")
    if isinstance(ceiling, bool) or not (isinstance(ceiling, (int, float)) and ceiling > 0):
        raise ValueError(f"ceiling must be a number > 0 (inf allowed), got {ceiling!r}")
    floor = max(resolution, _TINY)
    n = widths.size
    e0 = errors[:, 0]

    # 1. approximation: E_m(0) falls with m (or sits at the error floor).
    approximated = bool(e0[-1] < e0[0] or e0[-1] <= resolution)
    # 2. limit curve: upper envelope of the larger half of the widths.
    upper = slice(n // 2, None)
    limit = errors[upper].max(axis=0)  # (n_beta,)
    # 3. crossings of consecutive widths, and whether they shift left.
    crossings = np.array(
        [_crossing(betas, errors[i], errors[i + 1], floor, margin, ceiling) for i in range(n - 1)]
    )
    valid = np.flatnonzero(~np.isnan(crossings))
    shift_ratio = math.nan
    # a pair that never crosses counts as crossing where its smaller width's curve ends (the
    # largest beta of the grid, or the last one at or below the ceiling)
    ends = np.array([_horizon(betas, errors[i], ceiling) for i in range(n - 1)])
    if valid.size >= 2 and math.isfinite(crossings[valid[-1]]):
        earlier = np.minimum(crossings[valid[:-1]], ends[valid[:-1]])
        shift_ratio = float(earlier.max() / crossings[valid[-1]])
    shifts_left = bool(shift_ratio >= shift_factor)
    # 4. once resolved, the error E_m(beta) itself keeps growing with m at fixed beta.
    growth_beta, growth, grows = _growth_evidence(
        betas, widths, errors, floor, resolve, growth_slope, ceiling
    )
    # 4. a jump of the limit curve at 0, visible on the grid.
    jump_excess, jump_slope = _jump_evidence(betas, limit, floor)
    jumps = bool(jump_excess >= jump_ratio and (math.isnan(jump_slope) or jump_slope < flat_slope))
    if jumps and math.isnan(jump_slope):
        jumps = bool(np.all(limit[1:4] - limit[0] >= jump_ratio * (limit[0] + floor)))
    # 5. ... or the limit curve is past the ceiling (a blow-up) already at the smallest beta.
    blows_up_at_once = bool(not limit[1] <= ceiling)

    stable = approximated and not shifts_left and not grows and not jumps
    stable = stable and not blows_up_at_once
    beta0, cause = 0.0, ""
    if stable:
        pair_upper = [i for i in range(n // 2, n - 1) if math.isfinite(crossings[i])]
        beta0 = float(betas[-1])
        cause = f"the larger widths never cross up to beta = {_fmt(beta0)}"
        if pair_upper:
            beta0 = float(min(crossings[pair_upper]))
            cause = f"the larger widths first do worse at beta = {_fmt(beta0)}"
        blown = np.flatnonzero(~(limit <= ceiling))  # inf, or above the ceiling
        if blown.size and betas[max(blown[0] - 1, 0)] < beta0:
            beta0 = float(betas[max(blown[0] - 1, 0)])
            cause = f"the limit curve blows up (above {_fmt(ceiling)}) after beta = {_fmt(beta0)}"

    reason = _reason(
        widths, betas, e0, crossings, valid, approximated, shift_ratio, shifts_left,
        growth_beta, growth, grows, jump_excess, jump_slope, jumps, beta0, cause, shift_factor,
        growth_slope, flat_slope, ends,
    )  # fmt: skip
    if approximated and blows_up_at_once and not (shifts_left or grows or jumps):
        reason = (
            f"unstable: the limit curve is already above the ceiling {_fmt(ceiling)} at the "
            f"smallest beta = {_fmt(betas[1])} (E = {_fmt(limit[1])}), so E(beta) does not tend "
            f"to E(0) = {_fmt(limit[0])} on the grid"
        )
    return StabilityVerdict(
        stable=bool(stable),
        beta0=beta0,
        reason=reason,
        widths=widths,
        betas=betas.copy(),
        limit_errors=limit,
        limit_widths=[int(m) for m in widths[upper]],
        unperturbed_errors=e0.copy(),
        crossings=crossings,
        evidence={
            "approximated": approximated,
            "shift_ratio": None if math.isnan(shift_ratio) else shift_ratio,
            "shifts_left": shifts_left,
            "growth_beta": None if math.isnan(growth_beta) else growth_beta,
            "growth_slope": None if math.isnan(growth) else growth,
            "grows": grows,
            "jump_excess": jump_excess if math.isfinite(jump_excess) else None,
            "jump_slope": None if math.isnan(jump_slope) else jump_slope,
            "jumps": jumps,
            "blows_up_at_once": blows_up_at_once,
        },
        settings={
            "margin": margin,
            "shift_factor": shift_factor,
            "growth_slope": growth_slope,
            "resolve": resolve,
            "jump_ratio": jump_ratio,
            "flat_slope": flat_slope,
            "resolution": resolution,
            "ceiling": ceiling if math.isfinite(ceiling) else None,
        },
    )


def _reason(
    widths, betas, e0, crossings, valid, approximated, shift_ratio, shifts_left,
    growth_beta, growth, grows, jump_excess, jump_slope, jumps, beta0, cause, shift_factor,
    growth_slope, flat_slope, ends,
) -> str:  # fmt: skip
    """The verdict in words, with the numbers behind it."""
    m1, mn = widths[0], widths[-1]
    falls = f"E_m(0) goes from {_fmt(e0[0])} (m={m1}) to {_fmt(e0[-1])} (m={mn})"
    if not approximated:
        return f"no approximation: {falls}, it does not fall with m (Def 3.5 needs E_m(0) -> 0)"
    if shifts_left:
        first = valid[np.argmax(np.minimum(crossings[valid[:-1]], ends[valid[:-1]]))]
        last = valid[-1]
        before = (
            f"beta = {_fmt(crossings[first])}"
            if math.isfinite(crossings[first])
            else f"no crossing up to beta = {_fmt(ends[first])}"
        )
        return (
            f"unstable: the crossings shift left as m grows ({before} for m={widths[first]}->"
            f"{widths[first + 1]}, beta = {_fmt(crossings[last])} for m={widths[last]}->"
            f"{widths[last + 1]}, a factor {_fmt(shift_ratio)} >= {_fmt(shift_factor)}): at "
            "fixed small beta the error eventually grows with m, so E(beta) does not tend to "
            f"E(0) as beta -> 0; {falls}"
        )
    if grows:
        upper = widths[widths.size // 2 :]
        return (
            f"unstable: from beta = {_fmt(growth_beta)} the error E_m(beta) still grows with m "
            f"over m = {', '.join(str(m) for m in upper)} (log-log slope {_fmt(growth)} >= "
            f"{_fmt(growth_slope)}), so E(beta) does not tend to E(0) as "
            f"beta -> 0; {falls}"
        )
    if jumps:
        slope = "flat" if math.isnan(jump_slope) else f"log-log slope {_fmt(jump_slope)}"
        return (
            f"unstable: the limit curve jumps at 0 (E(beta) - E(0) is {_fmt(jump_excess)} "
            f"x E(0) at beta = {_fmt(betas[1])} and stays there, {slope} < {_fmt(flat_slope)}); "
            f"{falls}"
        )
    crossed = crossings[np.isfinite(crossings)]
    no_shift = (
        f"crossings at beta = {', '.join(_fmt(c) for c in crossed)} do not shift left"
        if crossed.size
        else "the curves never cross"
    )
    return (
        f"stable up to beta_0 = {_fmt(beta0)}: {falls}; {no_shift}; no jump of E(beta) at 0; "
        f"{cause}"
    )


def stability_radius(
    curves: Mapping[int, PerturbationCurve] | Sequence[PerturbationCurve],
    tolerance: float,
) -> SmallErrorRadii:
    """Per-width small-error radius at a common error level (a diagnostic, not a verdict).

    Parameters
    ----------
    curves: dict width -> :class:`PerturbationCurve` (or curves with ``.width``), on a
        common beta grid starting at 0.
    tolerance: the error level (> 0), e.g. the error of predicting zero.

    Returns
    -------
    SmallErrorRadii: ``radii[i]`` = the largest beta with E_{m_i}(beta) <= tolerance.
    """
    widths, betas, errors = _sorted_curves(curves, min_widths=1)
    tolerance = check_positive_float("tolerance", tolerance)
    radii = np.array(
        [float(betas[row <= tolerance][-1]) if row[0] <= tolerance else 0.0 for row in errors]
    )
    return SmallErrorRadii(widths=widths, radii=radii, tolerance=tolerance)


__all__ = ["SmallErrorRadii", "StabilityVerdict", "stability_radius", "stability_verdict"]
