"""The result of :func:`~curse_of_memory.analysis.decay.fit_decay`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LAWS = ("exponential", "polynomial", "non-decaying", "other", "undetermined")


@dataclass
class DecayFit:
    """Result of :func:`fit_decay`: the decay law of a memory curve's tail.

    Attributes
    ----------
    law: one of :data:`LAWS`: ``"exponential"`` (C e^{-beta t}), ``"polynomial"``
        (C (t + t0)^{-p}), ``"non-decaying"`` (no decay on the window: constant,
        periodic, growing, or settling to a positive level), ``"other"`` (decays, but
        neither law fits: e.g. e^{-sqrt t}, 1 / log t) or ``"undetermined"`` (too
        few points, noise only, or a window too short to tell the laws apart).
    rate: beta when the law is exponential, else ``None``.
    exponent: p when the law is polynomial, else ``None``.
    exp_rate, exp_prefactor: beta and C of the exponential law C e^{-beta t} (the
        verdict's rate when exponential, else the least-squares fit; C matches the
        tail at that rate; ``None`` if no fit).
    pol_exponent, pol_prefactor: p and C of the power-law fit (``None`` if none).
    t0: offset of the power law (t + t0)^{-p}: fitted unless fixed by the caller.
        With t0 > 0 the law is also C' (1 + t / tau)^{-p} with tau = t0.
    r2_exponential, r2_polynomial: R^2 of log M for each fit (``None`` if none).
    misfit_exponential, misfit_polynomial: rms deviation of log M from each fit on
        the tail (0.01 is a 1 % misfit); the goodness of fit used for the verdict. The
        exponential fit allows a rising prefactor t^q (q >= 0), as from a repeated
        eigenvalue.
    noise: point-to-point scatter of log M about the power-law fit (robust).
    tolerance: the misfit scale a law must stay within (the larger of ``noise`` and
        the relative tolerance times the tail's log-decay).
    margin: how clearly the verdict's deciding tests passed: the smallest ratio of
        a test statistic to its threshold (>= 1; below ~1.5 the call is close).
        ``None`` for undetermined.
    window: ``(t_start, t_end)`` of the points used for the fits (the tail).
    n_points: number of points used.
    reason: the verdict in words (why non-decaying, other or undetermined; what
        ended the window).
    """

    law: str
    rate: float | None
    exponent: float | None
    exp_rate: float | None
    exp_prefactor: float | None
    pol_exponent: float | None
    pol_prefactor: float | None
    t0: float | None
    r2_exponential: float | None
    r2_polynomial: float | None
    misfit_exponential: float | None
    misfit_polynomial: float | None
    noise: float | None
    tolerance: float | None
    margin: float | None
    window: tuple[float, float]
    n_points: int
    reason: str = ""

    @property
    def t_start(self) -> float:
        return self.window[0]

    @property
    def t_end(self) -> float:
        return self.window[1]

    @property
    def tau(self) -> float | None:
        """tau of C' (1 + t / tau)^{-p}: equal to t0 when t0 > 0, else ``None``."""
        return self.t0 if self.t0 is not None and self.t0 > 0 else None

    def predict(self, t: np.ndarray | float) -> np.ndarray:
        """The winning law's fitted curve at times ``t`` (raises unless exp./polynomial)."""
        t = np.asarray(t, dtype=np.float64)
        if self.law == "exponential":
            return self.exp_prefactor * np.exp(-self.exp_rate * t)
        if self.law == "polynomial":
            return self.pol_prefactor * (t + self.t0) ** (-self.pol_exponent)
        raise ValueError(f"no decay law to predict with: the law is {self.law} ({self.reason})")

    def short(self) -> str:
        """Compact label, e.g. ``"exp, rate 0.105"`` or ``"pol, exponent 1.50"``."""
        if self.law == "exponential":
            return f"exp, rate {self.rate:.3g}"
        if self.law == "polynomial":
            return f"pol, exponent {self.exponent:.3g}"
        return self.law

    def summary(self) -> str:
        """Plain-language verdict with the fit qualities, the margin and the window."""
        where = f"t in [{self.window[0]:.4g}, {self.window[1]:.4g}], {self.n_points} points"
        fits = ""
        if self.misfit_exponential is not None:
            fits = (
                f"misfit exp {self.misfit_exponential:.2g}, pol {self.misfit_polynomial:.2g}"
                f" (tolerance {self.tolerance:.2g})"
            )
        margin = f"margin {self.margin:.3g}; " if self.margin is not None else ""
        if self.law == "exponential":
            head = f"exponential decay, rate {self.rate:.4g} per unit time"
        elif self.law == "polynomial":
            head = f"polynomial decay, exponent {self.exponent:.4g} (t0 = {self.t0:.3g})"
        else:
            head = f"{self.law}: {self.reason}"
        details = "; ".join(part for part in (fits, where) if part)
        return f"{head} ({margin}{details})"

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key, value in out.items():  # an infinite prefactor (t0 -> inf) is written null
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        out["window"] = list(self.window)
        return out
