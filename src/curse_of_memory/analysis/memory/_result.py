"""The result of :func:`~curse_of_memory.analysis.memory.memory_function`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_KIND_NAMES = {"heaviside": "Heaviside", "impulse": "impulse", "reversed": "reversed"}


@dataclass
class MemoryFunction:
    """A discrete memory function M(H)(t_k), ``t_k = k dt``.

    Attributes
    ----------
    t: ``(length,)`` times ``k dt``.
    values: ``(length,)`` estimated M(H)(t_k): the supremum over inputs
        0 < |x|_inf <= ``input_bound`` (exact for linear maps; for nonlinear maps the
        maximum of a search refined until it changed by less than ``tolerance``).
    kind: ``"heaviside"``, ``"impulse"`` or ``"reversed"``.
    normalization: ``"x"`` (divide by |x|_inf) or ``"x+1"`` (by |x|_inf + 1).
    dt: time step.
    input_dim: number of input channels d.
    maximizer_direction: ``(length, d)`` direction v (|v|_inf = 1) of the maximising
        input at each t_k (the maximiser is chosen per time, not overall).
    maximizer_scale: ``(length,)`` its amplitude s = |x|_inf (the maximising input is
        x = s v); ``0.0`` means the small-amplitude limit (forward-mode linear
        response) gave the maximum.
    linear_response: ``(length,)`` the small-amplitude limit max_c |A_k[c]|_1 with
        normalization "x"; equal to ``values`` for a linear map.
    burn_in: burn-in length B for ``kind="reversed"``, else ``None``.
    input_bound: the bound X of the supremum over 0 < |x|_inf <= X (``math.inf``:
        unrestricted).
    tolerance: relative change per refinement below which the search stopped.
    converged: ``False`` when the search hit its refinement limit, or when the
        supremum was still growing at the largest amplitude tried (unbounded inputs).
    meta: extra information (initial amplitudes, number of probes, dtype, ...).
    """

    t: np.ndarray
    values: np.ndarray
    kind: str
    normalization: str
    dt: float
    input_dim: int
    maximizer_direction: np.ndarray
    maximizer_scale: np.ndarray
    linear_response: np.ndarray
    burn_in: int | None = None
    input_bound: float = 1.0
    tolerance: float = 1e-3
    converged: bool = True
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def describe(self) -> str:
        """One line stating what was measured, e.g. for a figure caption or a log.

        Example: ``"Heaviside inputs, sup over 0 < |x|_inf <= 1, normalised by |x|_inf"``.
        """
        bound = (
            "0 < |x|_inf"
            if math.isinf(self.input_bound)
            else (f"0 < |x|_inf <= {self.input_bound:g}")
        )
        norm = "|x|_inf" if self.normalization == "x" else "|x|_inf + 1"
        text = f"{_KIND_NAMES[self.kind]} inputs, sup over {bound}, normalised by {norm}"
        return text if self.converged else text + " (search not converged)"

    def to_dict(self) -> dict:
        """JSON-serialisable form (an unrestricted ``input_bound`` is written as ``None``)."""
        return {
            "t": self.t.tolist(),
            "values": self.values.tolist(),
            "kind": self.kind,
            "normalization": self.normalization,
            "dt": self.dt,
            "input_dim": self.input_dim,
            "maximizer_direction": self.maximizer_direction.tolist(),
            "maximizer_scale": self.maximizer_scale.tolist(),
            "linear_response": self.linear_response.tolist(),
            "burn_in": self.burn_in,
            "input_bound": None if math.isinf(self.input_bound) else self.input_bound,
            "tolerance": self.tolerance,
            "converged": self.converged,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MemoryFunction:
        """Inverse of :meth:`to_dict`."""
        arrays = ("t", "values", "maximizer_direction", "maximizer_scale", "linear_response")
        kwargs = {k: np.asarray(data[k], dtype=np.float64) for k in arrays}
        bound = data.get("input_bound", 1.0)
        return cls(
            **kwargs,
            kind=data["kind"],
            normalization=data["normalization"],
            dt=float(data["dt"]),
            input_dim=int(data["input_dim"]),
            burn_in=data.get("burn_in"),
            input_bound=math.inf if bound is None else float(bound),
            tolerance=float(data.get("tolerance", 1e-3)),
            converged=bool(data.get("converged", True)),
            meta=dict(data.get("meta", {})),
        )
