"""Eigenvalue reparameterizations lambda = f(w) of the recurrent matrix (paper eq 18).

Each map is a small ``nn.Module`` for
:func:`torch.nn.utils.parametrize.register_parametrization`: ``forward`` maps the
trainable raw weights ``w`` to eigenvalues ``lambda`` and ``right_inverse`` maps
eigenvalues back to raw weights (used to initialise a model at chosen
eigenvalues). Perturbation experiments perturb ``w``, not ``lambda``.

=========  ============================  ==========================  ======
name       lambda = f(w)                 image of R                  stable
=========  ============================  ==========================  ======
direct     w                             R                           no
relu       -relu(w)                      (-inf, 0], 0 reachable       no
exp        -exp(w)                       (-inf, 0)                   yes
softplus   -log(1 + exp(w))              (-inf, 0)                   yes
inverse    -1 / (a w^2 + b), a>0, b>=0   [-1/b, 0)                   yes
=========  ============================  ==========================  ======

"Stable" means every raw ``w`` in R gives an eigenvalue in the open left
half-line, so no perturbation of ``w`` can make the continuous-time model
unstable (paper Section 3.4). ``relu`` is the map the official code
(github.com/radarFudan/Curse-of-memory) trains with (``-relu(w)``); it is kept for
comparison and is not stable because ``w <= 0`` gives ``lambda = 0``.

Floating point: for the stable maps the magnitude ``|lambda|`` is clipped to
``[tiny, sqrt(max)]`` of the dtype, so that ``lambda`` stays strictly negative
when ``exp`` underflows and finite when it overflows (e.g. ``w = -1000`` would
otherwise give ``lambda = -0.0`` exactly, and ``w = 1000`` would give ``-inf``).
The clip changes nothing for ``|w|`` below ~700 (float64) / ~80 (float32).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from curse_of_memory._validation import check_choice, check_finite_float, check_positive_float


def _negative_clipped(magnitude: torch.Tensor) -> torch.Tensor:
    """Return ``-magnitude`` with ``magnitude`` clipped to ``[tiny, sqrt(max)]`` of its dtype."""
    info = torch.finfo(magnitude.dtype)
    return -magnitude.clamp(min=info.tiny, max=math.sqrt(info.max))


def _check_negative(eigenvalues: torch.Tensor, name: str) -> None:
    if not bool((eigenvalues < 0).all()):
        raise ValueError(
            f"the {name!r} parametrization only represents eigenvalues < 0; "
            f"got max eigenvalue {float(eigenvalues.max()):.6g}"
        )


class DirectEigenvalues(nn.Module):
    """``lambda = w`` (unstable: any real value is reachable)."""

    stable = False

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        return raw

    def right_inverse(self, eigenvalues: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        return eigenvalues


class ReluEigenvalues(nn.Module):
    """``lambda = -relu(w)``, the official code's training-time map (not stable: 0 is reachable)."""

    stable = False

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        return -torch.relu(raw)

    def right_inverse(self, eigenvalues: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``; needs ``eigenvalues <= 0``."""
        if not bool((eigenvalues <= 0).all()):
            raise ValueError(
                "the 'relu' parametrization only represents eigenvalues <= 0; "
                f"got max eigenvalue {float(eigenvalues.max()):.6g}"
            )
        return -eigenvalues


class ExpEigenvalues(nn.Module):
    """``lambda = -exp(w)`` (paper eq 18, "exp"; stable)."""

    stable = True

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        return _negative_clipped(torch.exp(raw))

    def right_inverse(self, eigenvalues: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``; needs ``eigenvalues < 0``."""
        _check_negative(eigenvalues, "exp")
        return torch.log(-eigenvalues)


class SoftplusEigenvalues(nn.Module):
    """``lambda = -log(1 + exp(w))`` (paper eq 18, "softplus"; stable)."""

    stable = True

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        # softplus(w) = max(w, 0) + log1p(exp(-|w|)): exact for large |w|, no overflow.
        magnitude = torch.clamp(raw, min=0) + torch.log1p(torch.exp(-raw.abs()))
        return _negative_clipped(magnitude)

    def right_inverse(self, eigenvalues: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``; needs ``eigenvalues < 0``: ``w = log(exp(-lambda) - 1)``."""
        _check_negative(eigenvalues, "softplus")
        magnitude = -eigenvalues
        # log(expm1(s)) = s + log(-expm1(-s)), stable for large s.
        return magnitude + torch.log(-torch.expm1(-magnitude))


class InverseEigenvalues(nn.Module):
    """``lambda = -1 / (a w^2 + b)`` (StableSSM's "best" map, an instance of paper eq 18; stable).

    Parameters
    ----------
    a: scale, > 0 (StableSSM default 1).
    b: offset, >= 0 (StableSSM default 0.1); ``|lambda| <= 1/b``.
    """

    stable = True

    def __init__(self, a: float = 1.0, b: float = 0.1) -> None:
        super().__init__()
        self.a = check_positive_float("inverse_a", a)
        self.b = check_finite_float("inverse_b", b)
        if self.b < 0:
            raise ValueError(f"inverse_b must be >= 0, got {b!r}")

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``."""
        return _negative_clipped(1.0 / (self.a * raw.square() + self.b))

    def right_inverse(self, eigenvalues: torch.Tensor) -> torch.Tensor:
        """``(m,) -> (m,)``: the non-negative root ``w = sqrt((-1/lambda - b) / a)``.

        Needs ``-1/b <= lambda < 0``.
        """
        _check_negative(eigenvalues, "inverse")
        if self.b > 0 and bool((eigenvalues < -1.0 / self.b).any()):
            raise ValueError(
                f"the 'inverse' parametrization with b={self.b} only represents eigenvalues "
                f">= -1/b = {-1.0 / self.b:.6g}; got min eigenvalue {float(eigenvalues.min()):.6g}"
            )
        return torch.sqrt(torch.clamp((-1.0 / eigenvalues - self.b) / self.a, min=0.0))

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"


PARAMETRIZATIONS: dict[str, type[nn.Module]] = {
    "direct": DirectEigenvalues,
    "relu": ReluEigenvalues,
    "exp": ExpEigenvalues,
    "softplus": SoftplusEigenvalues,
    "inverse": InverseEigenvalues,
}

STABLE_PARAMETRIZATIONS: tuple[str, ...] = tuple(
    name for name, cls in PARAMETRIZATIONS.items() if cls.stable
)


def make_parametrization(name: str, inverse_a: float = 1.0, inverse_b: float = 0.1) -> nn.Module:
    """Instantiate the eigenvalue map called ``name`` (one of ``PARAMETRIZATIONS``)."""
    check_choice("parametrization", name, PARAMETRIZATIONS)
    if name == "inverse":
        return InverseEigenvalues(inverse_a, inverse_b)
    return PARAMETRIZATIONS[name]()


__all__ = [
    "DirectEigenvalues",
    "ExpEigenvalues",
    "InverseEigenvalues",
    "PARAMETRIZATIONS",
    "ReluEigenvalues",
    "STABLE_PARAMETRIZATIONS",
    "SoftplusEigenvalues",
    "make_parametrization",
]
