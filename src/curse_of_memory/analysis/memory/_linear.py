"""Small-amplitude limit of the memory ratio: the linear response at x = 0.

Forward-mode differentiation at x = 0 gives the linear response A_k (out x d) of the
memory response R_k, and sup_v max_c |A_k[c] . v| over |v|_inf = 1 is
max_c |A_k[c]|_1, attained at the sign vector v = sign(A_k[c*]) (paper eq 6). For a
linear map this *is* the supremum, whatever d is.
"""

from __future__ import annotations

import warnings

import torch
import torch.autograd.forward_ad as fwAD

from curse_of_memory.analysis.memory._response import difference
from curse_of_memory.analysis.memory._subject import SequenceMap


def linear_response(
    fn: SequenceMap, pattern: torch.Tensor, d: int, kind: str, offset: int, length: int, dt: float
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The s -> 0 limit of the ratio (normalization ``"x"``) and its maximising direction.

    Returns ``(values, signs, method)``: ``values`` ``(length,)`` = max_c |A_k[c]|_1,
    ``signs`` ``(length, d)`` the sign vector attaining it, and ``method``
    (``"forward-ad"``, or ``"central-difference"`` for models without forward-mode
    support).
    """
    jac, method = _jacobian(fn, pattern, d)  # (d, T_total, out)
    a_mat = difference(jac, kind, offset, length, dt)  # (d, length, out)
    per_channel = a_mat.abs().sum(0)  # (length, out): |A_k[c]|_1
    values, best_channel = per_channel.max(-1)  # (length,)
    if not bool(torch.isfinite(values).all()):
        raise ValueError("the model's linear response at x = 0 is not finite")
    best_rows = a_mat.permute(1, 2, 0)[torch.arange(length), best_channel]  # (length, d)
    signs = torch.where(best_rows >= 0, 1.0, -1.0).to(pattern.dtype)
    return values, signs, method


def _jacobian(fn: SequenceMap, pattern: torch.Tensor, d: int) -> tuple[torch.Tensor, str]:
    """Directional derivatives of y at x = 0 along e_i * pattern: ``(d, T_total, out)``."""
    tangent = torch.eye(d, dtype=pattern.dtype, device=pattern.device)[:, None, :]
    tangent = tangent * pattern[None, :, None]  # (d, T_total, d)
    primal = torch.zeros_like(tangent)
    try:
        with warnings.catch_warnings(), torch.no_grad(), fwAD.dual_level():
            # torch's first make_dual scripts its jvp decompositions with torch.jit.script
            warnings.filterwarnings("ignore", ".*torch.jit.script", DeprecationWarning)
            out = fn(fwAD.make_dual(primal, tangent))
            jac = fwAD.unpack_dual(out).tangent
        if jac is None:
            raise RuntimeError("the model output carries no forward-mode tangent")
        return jac, "forward-ad"
    except Exception:  # models without forward-mode AD fail in many ways
        # Central differences: O(h^2) truncation, ~eps/h rounding.
        h = 1e-5 if pattern.dtype == torch.float64 else 1e-2
        with torch.no_grad():
            y = fn(torch.cat([h * tangent, -h * tangent]))
        return (y[:d] - y[d:]) / (2 * h), "central-difference"
