"""Curves with a known decay law: the validation battery of :func:`fit_decay`.

Each :class:`KnownCurve` is a sampled memory curve with the verdict a careful reader
would give it (the law of its tail, paper Definition 3.2) and, for exponential and
polynomial laws, the true rate or exponent. The tests run every curve through
``fit_decay``; ``benchmarks/decay_battery.py`` prints the accuracy table of the docs.

Noise is seeded, so every curve is the same on every call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KnownCurve:
    """A sampled curve and its expected verdict.

    Attributes
    ----------
    name: short description (the row label of the accuracy table).
    group: what the curve tests (``"pure"``, ``"offset"``, ``"window"``, ``"sum"``,
        ``"stretched"``, ``"periodic"``, ``"constant"``, ``"noise"``, ``"floor"``).
    law: expected ``fit_decay(...).law``.
    parameter: true rate (exponential) or exponent (polynomial), else ``None``.
    rel_tol: accepted relative error of the fitted rate or exponent.
    note: why the expected verdict is what it is, where that is not obvious.
    """

    name: str
    group: str
    law: str
    make: Callable[[], tuple[np.ndarray, np.ndarray]]
    parameter: float | None = None
    rel_tol: float = 0.05
    note: str = ""

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, values)``, two ``(n,)`` float64 arrays."""
        return self.make()


def _grid(start: float, stop: float, step: float) -> np.ndarray:
    return start + step * np.arange(round((stop - start) / step) + 1, dtype=np.float64)


def _sampled(law: Callable[[np.ndarray], np.ndarray], start: float, stop: float, step: float):
    def make():
        t = _grid(start, stop, step)
        return t, law(t)

    return make


def _noisy(law, start, stop, step, *, relative=0.0, additive=0.0, seed=0):
    """``law(t) * exp(relative xi) + additive |xi'|``, xi, xi' standard normal (seeded)."""

    def make():
        rng = np.random.default_rng(seed)
        t = _grid(start, stop, step)
        values = law(t) * np.exp(relative * rng.normal(size=t.size))
        return t, values + additive * np.abs(rng.normal(size=t.size))

    return make


def _rounded(law, start, stop, step, decimals):
    def make():
        t = _grid(start, stop, step)
        return t, np.round(law(t), decimals)

    return make


def known_curves() -> list[KnownCurve]:
    """The battery: exponential, polynomial, non-decaying, other and undetermined cases."""
    ln09 = -math.log(0.9)
    return [
        # ---------------------------------------------------------------- exponential
        KnownCurve("0.9^t (paper eq 120)", "pure", "exponential",
                   _sampled(lambda t: 0.9**t, 0, 399, 1), ln09),
        KnownCurve("3 e^{-0.2 t}, dt = 0.25", "pure", "exponential",
                   _sampled(lambda t: 3 * np.exp(-0.2 * t), 0, 50, 0.25), 0.2),
        KnownCurve("e^{-t}, dt = 0.01", "pure", "exponential",
                   _sampled(lambda t: np.exp(-t), 0, 20, 0.01), 1.0),
        KnownCurve("0.99^t, long window t <= 5000", "window", "exponential",
                   _sampled(lambda t: 0.99**t, 0, 5000, 1), -math.log(0.99)),
        KnownCurve("e^{-0.05 t}, short window t <= 20", "window", "exponential",
                   _sampled(lambda t: np.exp(-0.05 * t), 0, 20, 0.1), 0.05,
                   note="one e-fold of decay; noiseless, so the local rate is visibly constant"),
        KnownCurve("e^{-t} + 0.01 e^{-0.01 t}", "sum", "exponential",
                   _sampled(lambda t: np.exp(-t) + 0.01 * np.exp(-0.01 * t), 0, 3000, 1), 0.01,
                   note="the tail law is the slowest exponential"),
        KnownCurve("e^{-2t} + 0.1 e^{-0.2t} + 0.01 e^{-0.02t}", "sum", "exponential",
                   _sampled(lambda t: np.exp(-2 * t) + 0.1 * np.exp(-0.2 * t)
                            + 0.01 * np.exp(-0.02 * t), 0, 2000, 0.5), 0.02),
        KnownCurve("e^{-0.1 t} + e^{-0.11 t} (close rates)", "sum", "exponential",
                   _sampled(lambda t: np.exp(-0.1 * t) + np.exp(-0.11 * t), 0, 400, 1), 0.1,
                   note="the local rate falls from 0.105 towards 0.1 but settles"),
        KnownCurve("e^{-0.3 t + 0.3 sin(t/2)} (rate wobbles)", "sum", "exponential",
                   _sampled(lambda t: np.exp(-0.3 * t + 0.3 * np.sin(t / 2)), 0, 150, 0.5),
                   0.3, rel_tol=0.1,
                   note="like beating modes: the local rate 0.3 - 0.15 cos(t/2) wobbles; a "
                   "window of three periods estimates its mean to a few percent"),
        KnownCurve("t e^{-0.1 t} (rises first)", "offset", "exponential",
                   _sampled(lambda t: t * np.exp(-0.1 * t), 0, 500, 0.5), 0.1, rel_tol=0.1,
                   note="log M = log t - 0.1 t: the local rate 0.1 - 1/t approaches 0.1"),
        KnownCurve("|e^{-0.1 t} cos t| (oscillating)", "periodic", "exponential",
                   _sampled(lambda t: np.abs(np.exp(-0.1 * t) * np.cos(t)), 0, 250, 0.1), 0.1),
        KnownCurve("e^{-0.05 t}, 10% multiplicative noise", "noise", "exponential",
                   _noisy(lambda t: np.exp(-0.05 * t), 0, 400, 1, relative=0.1), 0.05),
        KnownCurve("0.9^t + 1e-9 additive noise", "floor", "exponential",
                   _noisy(lambda t: 0.9**t, 0, 800, 1, additive=1e-9, seed=1), ln09),
        KnownCurve("0.9^t + 1e-4 additive noise", "floor", "exponential",
                   _noisy(lambda t: 0.9**t, 0, 800, 1, additive=1e-4, seed=2), ln09,
                   note="a rough plateau four decades down is a noise floor, not memory"),
        KnownCurve("0.9^t rounded to 1e-10", "floor", "exponential",
                   _rounded(lambda t: 0.9**t, 0, 400, 1, 10), ln09),
        KnownCurve("0.5^t + 1e-17 noise (float64 floor)", "floor", "exponential",
                   _noisy(lambda t: 0.5**t, 0, 600, 1, additive=1e-17, seed=3), math.log(2)),
        # ---------------------------------------------------------------- polynomial
        KnownCurve("(t+1)^{-1.5} (paper Sec 3.3)", "offset", "polynomial",
                   _sampled(lambda t: (t + 1) ** -1.5, 0, 500, 0.5), 1.5),
        KnownCurve("(1+0.1t)^{-1.1}, t <= 99", "offset", "polynomial",
                   _sampled(lambda t: (1 + 0.1 * t) ** -1.1, 0, 99, 1), 1.1),
        KnownCurve("t^{-3}, dt = 0.01", "pure", "polynomial",
                   _sampled(lambda t: t**-3.0, 0.01, 10, 0.01), 3.0),
        KnownCurve("t^{-1.5}, t in [1, 2000]", "pure", "polynomial",
                   _sampled(lambda t: t**-1.5, 1, 2000, 1), 1.5),
        KnownCurve("(t+10)^{-0.5}", "offset", "polynomial",
                   _sampled(lambda t: (t + 10) ** -0.5, 0, 1000, 1), 0.5),
        KnownCurve("(t+1)^{-0.3}, t <= 1e4", "pure", "polynomial",
                   _sampled(lambda t: (t + 1) ** -0.3, 0, 10_000, 1), 0.3),
        KnownCurve("(t+1)^{-2}, long window t <= 1e5", "window", "polynomial",
                   _sampled(lambda t: (t + 1) ** -2.0, 0, 100_000, 1), 2.0),
        KnownCurve("(t+1)^{-1.1}, short window t <= 20", "window", "polynomial",
                   _sampled(lambda t: (t + 1) ** -1.1, 0, 20, 0.1), 1.1),
        KnownCurve("(t+1)^{-1} + (t+1)^{-2}", "sum", "polynomial",
                   _sampled(lambda t: (t + 1) ** -1.0 + (t + 1) ** -2.0, 0, 2000, 1), 1.0,
                   rel_tol=0.1, note="the tail law is the slowest power"),
        KnownCurve("(1 + 0.3 sin(t/5)) (t+1)^{-1.5} (ripple)", "periodic", "polynomial",
                   _sampled(lambda t: (1 + 0.3 * np.sin(t / 5)) * (t + 1) ** -1.5, 0, 2000, 1),
                   1.5),
        KnownCurve("(t+1)^{-1.5}, 10% multiplicative noise", "noise", "polynomial",
                   _noisy(lambda t: (t + 1) ** -1.5, 0, 1000, 1, relative=0.1, seed=4), 1.5),
        KnownCurve("(t+1)^{-3} + 1e-10 additive noise", "floor", "polynomial",
                   _noisy(lambda t: (t + 1) ** -3.0, 0, 10_000, 1, additive=1e-10, seed=5), 3.0),
        KnownCurve("(t+1)^{-2} rounded to 1e-8", "floor", "polynomial",
                   _rounded(lambda t: (t + 1) ** -2.0, 0, 20_000, 1, 8), 2.0),
        # -------------------------------------------------------------- non-decaying
        KnownCurve("constant 0.7", "constant", "non-decaying",
                   _sampled(lambda t: np.full_like(t, 0.7), 0, 100, 1)),
        KnownCurve("1 + 0.5 sin t (periodic)", "periodic", "non-decaying",
                   _sampled(lambda t: 1 + 0.5 * np.sin(t), 0, 200, 0.1)),
        KnownCurve("|sin 0.3t| (periodic, zeros)", "periodic", "non-decaying",
                   _sampled(lambda t: np.abs(np.sin(0.3 * t)), 0, 300, 1)),
        KnownCurve("e^{-t} + 0.5 (decays to a constant)", "constant", "non-decaying",
                   _sampled(lambda t: np.exp(-t) + 0.5, 0, 100, 0.1)),
        KnownCurve("constant, 10% multiplicative noise", "noise", "non-decaying",
                   _noisy(lambda t: np.ones_like(t), 0, 500, 1, relative=0.1, seed=6)),
        KnownCurve("e^{0.02 t} (growing)", "constant", "non-decaying",
                   _sampled(lambda t: np.exp(0.02 * t), 0, 100, 1)),
        # --------------------------------------------------------------------- other
        KnownCurve("e^{-sqrt t} (stretched)", "stretched", "other",
                   _sampled(lambda t: np.exp(-np.sqrt(t)), 0, 1000, 1)),
        KnownCurve("e^{-t^0.7} (stretched)", "stretched", "other",
                   _sampled(lambda t: np.exp(-(t**0.7)), 0, 300, 0.5)),
        KnownCurve("e^{-t^0.8} (stretched)", "stretched", "other",
                   _sampled(lambda t: np.exp(-(t**0.8)), 0, 200, 0.25),
                   note="close to exponential: its local rate still falls 5 % per third"),
        KnownCurve("1 / log(t + e)", "stretched", "other",
                   _sampled(lambda t: 1 / np.log(t + math.e), 0, 10_000, 1),
                   note="slower than any power law"),
        KnownCurve("e^{-(t/5)^2} (Gaussian)", "stretched", "other",
                   _sampled(lambda t: np.exp(-((t / 5) ** 2)), 0, 40, 0.05),
                   note="faster than any exponential: its local rate keeps growing"),
        # -------------------------------------------------------------- undetermined
        KnownCurve("e^{-t}, 5 points", "window", "undetermined",
                   _sampled(lambda t: np.exp(-t), 0, 4, 1)),
        KnownCurve("|N(0, 1e-16)| (noise only)", "noise", "undetermined",
                   _noisy(lambda t: np.zeros_like(t), 0, 999, 1, additive=1e-16, seed=7)),
        KnownCurve("(t+1)^{-2}, t in [100, 110], 0.1% noise", "window", "undetermined",
                   _noisy(lambda t: (t + 1) ** -2.0, 100, 110, 0.1, relative=1e-3, seed=8),
                   note="t grows by 10%: within the noise a power law is an exponential"),
    ]  # fmt: skip
