"""Registry of named memory kernels rho(t) (paper Appendix D and the official code).

Each entry builds a vectorised ``rho: (n,) times -> (n,) values`` from a few
validated keyword parameters. The defaults reproduce the official code's
dictionary (github.com/radarFudan/Curse-of-memory) except ``pol``, whose defaults
follow the paper's linear experiments (paper eq 120); the official ``pol`` is
``scale=0.1``, and the paper's nonlinear experiments use ``power=1.5`` (paper Appendix D).

Use it through :meth:`curse_of_memory.targets.LinearFunctional.named`::

    LinearFunctional.named("pol", power=1.5)      # 1/(1+t)^1.5
    LinearFunctional.named("exp", rate=-math.log(0.9))  # the paper's 0.9^t
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_positive_float,
)

RhoFn = Callable[[np.ndarray], np.ndarray]


def _exp(rate: float = 1.0) -> RhoFn:
    """``e^{-rate t}``. The paper's ``0.9^t`` (paper eq 120) is ``rate = -ln 0.9``."""
    rate = check_positive_float("rate", rate)
    return lambda t: np.exp(-rate * t)


def _pol(power: float = 1.1, scale: float = 1.0) -> RhoFn:
    """``1/(1 + scale t)^power``. Paper: power 1.1 (paper eq 120) or 1.5 (paper Appendix D),
    scale 1; official code: power 1.1, scale 0.1."""
    power = check_positive_float("power", power)
    scale = check_positive_float("scale", scale)
    return lambda t: (1.0 + scale * t) ** (-power)


def _shift(start: float = 9.0, stop: float = 11.0) -> RhoFn:
    """``1`` if ``start < t < stop`` else ``0`` (a delayed window, official code)."""
    start = check_finite_float("start", start)
    stop = check_finite_float("stop", stop)
    if start < 0:
        raise ValueError(f"start must be >= 0 (a memory kernel lives on t >= 0), got {start}")
    if stop <= start:
        raise ValueError(f"stop must be greater than start, got start={start}, stop={stop}")
    return lambda t: ((t > start) & (t < stop)).astype(np.float64)


def _twoparts(center: float = 9.0) -> RhoFn:
    """``e^{-t} + e^{-(t - center)^2}``: fast decay plus a delayed-memory bump (official code)."""
    center = check_finite_float("center", center)
    return lambda t: np.exp(-t) + np.exp(-((t - center) ** 2))


def _airy(shift: float = 6.0) -> RhoFn:
    """``Ai(t - shift)``, the Airy function: oscillating, then super-exponentially decaying."""
    shift = check_finite_float("shift", shift)
    return lambda t: scipy.special.airy(t - shift)[0]


def _sin(frequency: float = 1.0) -> RhoFn:
    """``sin(frequency t)``: a non-decaying memory (official code)."""
    frequency = check_positive_float("frequency", frequency)
    return lambda t: np.sin(frequency * t)


@dataclass(frozen=True)
class NamedMemory:
    """One registry entry: a builder ``(**params) -> rho`` and its parameter defaults."""

    name: str
    build: Callable[..., RhoFn]

    @property
    def defaults(self) -> dict[str, float]:
        """Parameter names and default values, in signature order."""
        params = inspect.signature(self.build).parameters.values()
        return {p.name: p.default for p in params}

    @property
    def formula(self) -> str:
        """One-line description (first docstring line of the builder)."""
        return (self.build.__doc__ or "").strip().splitlines()[0]


NAMED_MEMORIES: dict[str, NamedMemory] = {
    entry.name: entry
    for entry in (
        NamedMemory("exp", _exp),
        NamedMemory("pol", _pol),
        NamedMemory("shift", _shift),
        NamedMemory("twoparts", _twoparts),
        NamedMemory("airy", _airy),
        NamedMemory("sin", _sin),
    )
}


def build_named_memory(name: str, **params: float) -> tuple[RhoFn, str]:
    """Build the kernel called ``name`` with ``params`` (others take their defaults).

    Returns
    -------
    ``(rho, label)``: the vectorised kernel ``(n,) -> (n,)`` and a label listing every
    parameter value, e.g. ``"pol(power=1.5, scale=1)"``.

    Raises
    ------
    ValueError
        For an unknown name (listing the valid names), an unknown parameter (listing
        the valid ones) or an invalid parameter value.
    """
    entry = NAMED_MEMORIES[check_choice("memory name", name, NAMED_MEMORIES)]
    defaults = entry.defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        valid = ", ".join(defaults) or "(none)"
        raise ValueError(
            f"memory {name!r} has no parameter(s) {', '.join(unknown)}; valid parameters: {valid}"
        )
    values = {**defaults, **params}
    rho = entry.build(**values)
    label = ", ".join(f"{key}={float(value):g}" for key, value in values.items())
    return rho, f"{name}({label})"
