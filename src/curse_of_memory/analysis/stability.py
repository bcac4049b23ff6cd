"""Stability verdict from a width sweep of perturbation curves (SPEC Def 3.5, Remark 3.6).

A target is beta_0-stably approximated when E(beta) = limsup_m E_m(beta) is continuous on
[0, beta_0] (SPEC eq 12); it is unstable when E(0) -> 0 but lim_{beta->0} E(beta) > 0.
From finitely many widths m_1 < ... < m_n we estimate this as follows.

* Common tolerance ``tol = max(rel_tol * max_m E_m(0), abs_tol)``: "small error" means
  within ``rel_tol`` times the worst unperturbed error of the sweep, or below the absolute
  floor (useful when E_m(0) is at rounding level, e.g. an exactly representable target).
* Small-error radius of width m: ``r_m`` = the largest beta on the grid with
  E_m(beta) <= tol (0 if only beta = 0 qualifies). These are the beta where the curves
  cross the horizontal line ``tol``; Fig 1(b): for an unstable target the crossings
  shift left (r_m -> 0) as m grows.
* Limiting curve: E(beta) ~ max of E_m(beta) over the larger half of the widths (a
  finite-sweep stand-in for limsup_m).
* Stable when the largest width keeps a positive radius that has not shrunk by more than
  ``shrink_factor`` relative to the smallest width, and the limiting curve is small
  (<= tol) at the smallest positive beta (continuity at 0). Then
  beta_0 = min r_m over the larger half of the widths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from curse_of_memory._validation import check_positive_float
from curse_of_memory.analysis.curves import PerturbationCurve


@dataclass
class StabilityVerdict:
    """Outcome of :func:`stability_radius`.

    Attributes
    ----------
    stable: True when a positive, non-shrinking small-error radius is seen.
    beta0: estimated stability radius (0.0 when unstable).
    widths: ``(n,)`` widths m, ascending.
    radii: ``(n,)`` small-error radius r_m per width.
    radius_ratio: r_{m_n} / r_{m_1} (0 when r_{m_1} = 0 or r_{m_n} = 0).
    radius_slope: least-squares slope of log r_m against log m over widths with
        r_m > 0 (NaN with fewer than two such widths).
    tolerance: the common error level ``tol`` used for the radii.
    limit_betas, limit_errors: ``(n_beta,)`` estimate of the limiting curve E(beta).
    continuous_at_zero: limiting curve <= tol at the smallest positive beta.
    verdict: plain-language sentence.
    details: the settings used.
    """

    stable: bool
    beta0: float
    widths: np.ndarray
    radii: np.ndarray
    radius_ratio: float
    radius_slope: float
    tolerance: float
    limit_betas: np.ndarray
    limit_errors: np.ndarray
    continuous_at_zero: bool
    verdict: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "stable": bool(self.stable),
            "beta0": float(self.beta0),
            "widths": [int(m) for m in self.widths],
            "radii": [float(r) for r in self.radii],
            "radius_ratio": float(self.radius_ratio),
            "radius_slope": None if np.isnan(self.radius_slope) else float(self.radius_slope),
            "tolerance": float(self.tolerance),
            "limit_betas": [float(b) for b in self.limit_betas],
            "limit_errors": [float(e) for e in self.limit_errors],
            "continuous_at_zero": bool(self.continuous_at_zero),
            "verdict": self.verdict,
            "details": self.details,
        }


def _as_sorted_curves(
    curves: Sequence[PerturbationCurve] | Mapping[int, PerturbationCurve],
) -> list[tuple[int, PerturbationCurve]]:
    if isinstance(curves, Mapping):
        items = [(m, c) for m, c in curves.items()]
    else:
        items = [(c.width if isinstance(c, PerturbationCurve) else None, c) for c in curves]
    if len(items) < 2:
        raise ValueError(f"curves must hold at least 2 widths, got {len(items)}")
    for m, curve in items:
        if not isinstance(curve, PerturbationCurve):
            raise TypeError(f"curves must be PerturbationCurve objects, got {type(curve).__name__}")
        if m is None or isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"every curve needs a positive integer width, got {m!r}")
    items.sort(key=lambda item: item[0])
    widths = [m for m, _ in items]
    if len(set(widths)) != len(widths):
        raise ValueError(f"widths must be distinct, got {widths}")
    betas = np.asarray(items[0][1].betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size < 2 or betas[0] != 0.0 or np.any(np.diff(betas) <= 0):
        raise ValueError("betas must be strictly ascending, start at 0 and have >= 2 values")
    for m, curve in items:
        if not np.array_equal(np.asarray(curve.betas, dtype=np.float64), betas):
            raise ValueError(f"curve of width {m} uses different betas from width {widths[0]}")
        if np.asarray(curve.errors).shape != betas.shape:
            raise ValueError(f"curve of width {m}: errors must have shape {betas.shape}")
        if np.any(np.isnan(curve.errors)):
            raise ValueError(f"curve of width {m} contains NaN errors")
    return [(int(m), c) for m, c in items]


def _radius(betas: np.ndarray, errors: np.ndarray, tol: float) -> float:
    """Largest beta with E(beta) <= tol; errors are non-decreasing so this is a prefix."""
    small = np.flatnonzero(np.maximum.accumulate(errors) <= tol)
    return float(betas[small[-1]]) if small.size else 0.0


def stability_radius(
    curves: Sequence[PerturbationCurve] | Mapping[int, PerturbationCurve],
    *,
    rel_tol: float = 10.0,
    abs_tol: float = 0.0,
    shrink_factor: float = 4.0,
) -> StabilityVerdict:
    """Estimate stability and beta_0 from perturbation curves of growing width.

    Parameters
    ----------
    curves: PerturbationCurve per width (sequence with ``.width`` set, or dict width ->
        curve), all on the same beta grid starting at 0; at least two widths.
    rel_tol: the error level is ``rel_tol`` times the worst unperturbed error E_m(0).
    abs_tol: absolute floor of the error level (same units as the errors), >= 0.
    shrink_factor: the radius of the largest width may be at most this many times
        smaller than that of the smallest width for a "stable" verdict.

    Returns
    -------
    StabilityVerdict (see the module docstring for the estimator).
    """
    items = _as_sorted_curves(curves)
    rel_tol = check_positive_float("rel_tol", rel_tol)
    if not np.isfinite(abs_tol) or abs_tol < 0:
        raise ValueError(f"abs_tol must be a finite number >= 0, got {abs_tol!r}")
    shrink_factor = check_positive_float("shrink_factor", shrink_factor)
    if shrink_factor < 1:
        raise ValueError(f"shrink_factor must be >= 1, got {shrink_factor}")

    widths = np.array([m for m, _ in items])
    betas = np.asarray(items[0][1].betas, dtype=np.float64)
    errors = np.stack([np.asarray(c.errors, dtype=np.float64) for _, c in items])  # (n, n_beta)
    tol = max(rel_tol * float(errors[:, 0].max()), float(abs_tol))
    if tol == 0.0:
        raise ValueError("tolerance is 0 (all E_m(0) = 0 and abs_tol = 0); pass abs_tol > 0")
    radii = np.array([_radius(betas, row, tol) for row in errors])

    upper = slice(len(widths) // 2, None)  # the larger half of the widths
    limit_errors = errors[upper].max(axis=0)  # finite-sweep limsup_m E_m(beta)
    continuous = bool(limit_errors[1] <= tol)
    ratio = float(radii[-1] / radii[0]) if radii[0] > 0 and radii[-1] > 0 else 0.0
    positive = radii > 0
    slope = (
        float(np.polyfit(np.log(widths[positive]), np.log(radii[positive]), 1)[0])
        if positive.sum() >= 2
        else float("nan")
    )
    stable = bool(radii[-1] > 0 and ratio >= 1.0 / shrink_factor and continuous)
    beta0 = float(radii[upper].min()) if stable else 0.0

    def _fmt(r: float) -> str:
        return f"{r:.3g}" if r > 0 else f"< {betas[1]:.3g}"

    if stable:
        verdict = f"stable up to beta_0 = {beta0:.3g}"
    else:
        verdict = (
            f"no stable approximation seen: small-error radius {_fmt(radii[0])} at "
            f"m={widths[0]} -> {_fmt(radii[-1])} at m={widths[-1]}"
        )
    details = {
        "rel_tol": rel_tol,
        "abs_tol": float(abs_tol),
        "shrink_factor": shrink_factor,
        "limit_widths": [int(m) for m in widths[upper]],
        "unperturbed_errors": [float(e) for e in errors[:, 0]],
    }
    return StabilityVerdict(
        stable=stable,
        beta0=beta0,
        widths=widths,
        radii=radii,
        radius_ratio=ratio,
        radius_slope=slope,
        tolerance=tol,
        limit_betas=betas.copy(),
        limit_errors=limit_errors,
        continuous_at_zero=continuous,
        verdict=verdict,
        details=details,
    )
