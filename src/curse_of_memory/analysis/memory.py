"""Memory functions M(H)(t) of causal sequence-to-sequence maps (SPEC section 2).

Three test inputs, discretised on the grid ``t_k = k dt`` (DESIGN "Conventions"):

* ``heaviside`` (SPEC eq 7):  u_j = x for j >= 0;
  M_k = sup_x |y_k - y_{k-1}| / (dt |x|_inf),  y_{-1} = 0.
* ``impulse`` (SPEC eq 121):  u_0 = x / dt, u_j = 0 for j > 0;
  M_k = sup_x |y_k| / |x|_inf.
* ``reversed`` (SPEC eq 128): u_j = x on a burn-in of B steps before k = 0, then 0;
  M_k = sup_x |y_{B+k} - y_{B+k-1}| / (dt |x|_inf).

For the linear functional y_k = dt sum_j rho(j dt) x_{k-j} the first two give exactly
|rho(k dt)|_1 and the third |rho(k dt) - rho((k + B) dt)|_1, which is |rho(k dt)|_1 up
to the kernel's value one burn-in later (SPEC eqs 6, 122, 129).

Estimator of the supremum over x (``normalization="x"`` divides by |x|_inf, Definition
3.1; ``"x+1"`` by |x|_inf + 1, the variant of SPEC eqs 45/69). Write x = s v with
|v|_inf = 1 and scale s > 0.

1. Small-amplitude limit s -> 0, exact: forward-mode differentiation at x = 0 gives the
   linear response A_k (out x d) of the differenced output, and
   sup_v max_c |A_k[c] . v| = max_c |A_k[c]|_1, attained at the sign vector
   v = sign(A_k[c*]). For a linear map this *is* the supremum, whatever d is.
2. Finite amplitudes: every direction in a candidate set (all 2^d sign vectors when d
   is small, the linear-response-optimal sign vectors and their negatives, +-e_i, and
   seeded random directions) times every scale in ``scales``, evaluated in one batched
   forward pass; the maximum is taken separately at every t_k.

For a nonlinear map the result is therefore a lower bound of the true supremum (exact
in the small-amplitude limit). With ``"x+1"`` a linear map gives s |rho|_1 / (s + 1) at
scale s: the supremum |rho|_1 is approached only as s -> infinity and the estimate is
|rho|_1 * max(scales) / (max(scales) + 1) (the s -> 0 limit contributes 0).

Before probing, the zero-input response is subtracted (H_t(x) - H_t(0), Definition 2.1),
so models with biases are handled, and causality is checked on a random probe.

Rounding. A finite probe whose difference at t_k is below 64 eps (|y_k| + |y_{k-1}|) / dt
(its rounding floor) measures nothing and is ignored there; where every probe is ignored
the value is the small-amplitude limit ("x") or 0 ("x+1"). The small-amplitude limit of
a Heaviside difference still cancels (its tangent tends to a constant), so memories
that decay far enough bottom out near eps relative to their peak; ``fit_decay`` cuts
that floor. Large amplitudes matter for gated models: inputs of size 10-1000 saturate
GRU/LSTM gates and can give much slower memory than inputs of size 1.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from tqdm.auto import tqdm

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.targets.linear import LinearFunctional

KINDS = ("heaviside", "impulse", "reversed")
NORMALIZATIONS = ("x", "x+1")
DEFAULT_SCALES = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
_ROUNDING_FACTOR = 64.0  # probe differences below 64 eps |y| / dt are rounding noise

SequenceMap = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class MemoryFunction:
    """A discrete memory function M(H)(t_k), ``t_k = k dt``.

    Attributes
    ----------
    t: ``(length,)`` times ``k dt``.
    values: ``(length,)`` estimated M(H)(t_k) (a lower bound of the supremum for
        nonlinear maps; exact for linear ones, see the module docstring).
    kind: ``"heaviside"``, ``"impulse"`` or ``"reversed"``.
    normalization: ``"x"`` (divide by |x|_inf) or ``"x+1"`` (by |x|_inf + 1).
    dt: time step.
    input_dim: number of input channels d.
    maximizer_direction: ``(length, d)`` direction v (|v|_inf = 1) of the maximising
        input at each t_k (the maximiser is chosen per time, not overall).
    maximizer_scale: ``(length,)`` its amplitude s = |x|_inf; ``0.0`` means the
        small-amplitude limit (forward-mode linear response) gave the maximum.
    linear_response: ``(length,)`` the small-amplitude limit max_c |A_k[c]|_1 with
        normalization "x"; equal to ``values`` for a linear map.
    burn_in: burn-in length B for ``kind="reversed"``, else ``None``.
    meta: extra information (scales, number of directions, method, dtype, ...).
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
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
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
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MemoryFunction:
        """Inverse of :meth:`to_dict`."""
        arrays = ("t", "values", "maximizer_direction", "maximizer_scale", "linear_response")
        kwargs = {k: np.asarray(data[k], dtype=np.float64) for k in arrays}
        return cls(
            **kwargs,
            kind=data["kind"],
            normalization=data["normalization"],
            dt=float(data["dt"]),
            input_dim=int(data["input_dim"]),
            burn_in=data.get("burn_in"),
            meta=dict(data.get("meta", {})),
        )


def memory_function(
    model: Any,
    length: int,
    dt: float,
    kind: str = "heaviside",
    input_dim: int | None = None,
    *,
    normalization: str = "x",
    scales: Sequence[float] = DEFAULT_SCALES,
    burn_in: int | None = None,
    n_random_directions: int = 16,
    max_enumerated_dim: int = 6,
    max_linear_directions: int = 64,
    dtype: torch.dtype = torch.float64,
    check_causal: bool = True,
    seed: int = 0,
    max_batch: int = 2048,
    progress: bool = False,
) -> MemoryFunction:
    """Memory function M(H)(t_k), k = 0..length-1, of a causal sequence model.

    Parameters
    ----------
    model:
        A ``torch.nn.Module`` or any callable mapping ``(batch, T, d)`` to
        ``(batch, T, d_out)`` (or ``(batch, T)``), or a
        :class:`~curse_of_memory.targets.linear.LinearFunctional` (called as
        ``model(x, dt)``). A tuple output means its first item. Modules are
        evaluated on a deep copy converted to ``dtype`` and put in eval mode;
        ``torch.nn.RNN/GRU/LSTM`` with ``batch_first=False`` are transposed for you.
        With d_out > 1 the max-norm over output channels is used.
    length:
        Number of time points (>= 2).
    dt:
        Time step (> 0); ``t_k = k dt``.
    kind:
        ``"heaviside"`` (SPEC eq 7), ``"impulse"`` (eq 121) or ``"reversed"`` (eq 128).
    input_dim:
        Input channels d. Inferred from ``LinearFunctional.input_dim``, a model
        attribute ``input_dim``/``input_size``/``in_features``, or the first
        submodule having ``input_size`` or ``in_features``; required otherwise.
    normalization:
        ``"x"`` divides by |x|_inf (Definition 3.1), ``"x+1"`` by |x|_inf + 1.
    scales:
        Finite amplitudes s = |x|_inf probed (all > 0).
    burn_in:
        Burn-in length B for ``kind="reversed"`` (default ``length``); ignored otherwise.
    n_random_directions:
        Seeded random directions added to the candidate set.
    max_enumerated_dim:
        Enumerate all 2^d sign vectors when d is at most this.
    max_linear_directions:
        At most this many linear-response-optimal sign vectors (plus negatives).
    dtype:
        ``torch.float64`` (default) or ``torch.float32`` for the evaluation.
    check_causal:
        Raise if the output before step k depends on inputs after k (random probe).
    seed:
        Seed of the random directions and of the causality probe.
    max_batch:
        Largest batch of probe sequences in one forward call.
    progress:
        Show a tqdm bar over the probe batches.

    Returns
    -------
    MemoryFunction with ``t``, ``values`` of shape ``(length,)`` and the maximising
    input at every t (see the module docstring for the estimator).

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, a model that is not causal, or wrong output shapes.
    """
    length = check_positive_int("length", length)
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    dt = check_positive_float("dt", dt)
    check_choice("kind", kind, KINDS)
    check_choice("normalization", normalization, NORMALIZATIONS)
    scales_arr = _check_scales(scales)
    burn = length if burn_in is None else check_positive_int("burn_in", burn_in)
    n_random_directions = check_nonnegative_int("n_random_directions", n_random_directions)
    max_enumerated_dim = check_nonnegative_int("max_enumerated_dim", max_enumerated_dim)
    max_linear_directions = check_nonnegative_int("max_linear_directions", max_linear_directions)
    max_batch = check_positive_int("max_batch", max_batch)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if not callable(model):
        raise TypeError(f"model must be callable on (batch, T, d) tensors, got {type(model)}")
    d = _resolve_input_dim(model, input_dim)
    fn, device = _as_sequence_map(model, dt, dtype)

    offset = burn if kind == "reversed" else 0  # index of t_0 in the probe sequence
    pattern = _input_pattern(kind, length, offset, dt, dtype, device)  # (T_total,)
    total = pattern.shape[0]
    if check_causal:
        _check_causality(fn, total, d, dtype, device, seed)
    with torch.no_grad():
        zero_out = fn(torch.zeros(1, total, d, dtype=dtype, device=device))  # (1, T_total, out)
    if not bool(torch.isfinite(zero_out).all()):
        raise ValueError("model output for the zero input is not finite")

    # Small-amplitude limit (exact for linear maps).
    jac, method = _linear_response(fn, pattern, d, zero_out)  # (d, T_total, out)
    a_mat = _difference(jac, kind, offset, length, dt)  # (d, length, out)
    lin_per_channel = a_mat.abs().sum(0)  # (length, out): |A_k[c]|_1
    lin_values, best_channel = lin_per_channel.max(-1)  # (length,)
    if not bool(torch.isfinite(lin_values).all()):
        raise ValueError("the model's linear response at x = 0 is not finite")
    best_rows = a_mat.permute(1, 2, 0)[torch.arange(length), best_channel]  # (length, d)
    lin_signs = torch.where(best_rows >= 0, 1.0, -1.0).to(dtype)

    # Finite amplitudes: directions x scales, one batched pass.
    directions = _candidate_directions(
        lin_signs, d, n_random_directions, max_enumerated_dim, max_linear_directions, seed
    ).to(device=device, dtype=dtype)  # (n_dir, d)
    best_val, best_dir, best_scale = _probe(
        fn, directions, scales_arr, pattern, zero_out, kind, offset, length, dt,
        normalization, max_batch, progress,
    )  # fmt: skip

    values = best_val.clone()
    max_dir = directions[best_dir]  # (length, d)
    max_scale = torch.as_tensor(scales_arr, dtype=dtype, device=device)[best_scale]
    if normalization == "x":  # the s -> 0 limit is a candidate only for 1/|x|_inf
        use_lin = lin_values >= values
        values = torch.where(use_lin, lin_values, values)
        max_dir = torch.where(use_lin[:, None], lin_signs, max_dir)
        max_scale = torch.where(use_lin, torch.zeros_like(max_scale), max_scale)

    return MemoryFunction(
        t=np.arange(length, dtype=np.float64) * dt,
        values=values.detach().cpu().double().numpy(),
        kind=kind,
        normalization=normalization,
        dt=dt,
        input_dim=d,
        maximizer_direction=max_dir.detach().cpu().double().numpy(),
        maximizer_scale=max_scale.detach().cpu().double().numpy(),
        linear_response=lin_values.detach().cpu().double().numpy(),
        burn_in=burn if kind == "reversed" else None,
        meta={
            "scales": scales_arr.tolist(),
            "n_directions": int(directions.shape[0]),
            "linear_response_method": method,
            "dtype": str(dtype).replace("torch.", ""),
            "estimator": "max over candidate directions x scales and the s->0 limit",
        },
    )


# ----------------------------------------------------------------------------- inputs


def _check_scales(scales: Sequence[float]) -> np.ndarray:
    try:
        arr = np.asarray(scales, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"scales must be a sequence of positive numbers, got {scales!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"scales must be a non-empty sequence of positive finite numbers, got {scales!r}"
        )
    return arr


def _resolve_input_dim(model: Any, input_dim: int | None) -> int:
    inferred = _infer_input_dim(model)
    if input_dim is None:
        if inferred is None:
            raise ValueError(
                f"input_dim could not be inferred from {type(model).__name__}; "
                "pass input_dim (number of input channels d)"
            )
        return inferred
    input_dim = check_positive_int("input_dim", input_dim)
    if inferred is not None and inferred != input_dim:
        raise ValueError(f"input_dim={input_dim} but the model expects {inferred} input channels")
    return input_dim


def _infer_input_dim(model: Any) -> int | None:
    """Input channels from well-known attributes; ``None`` when unknown."""
    for attr in ("input_dim", "input_size", "in_features"):
        value = getattr(model, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if isinstance(model, torch.nn.Module):
        for sub in model.modules():
            for attr in ("input_size", "in_features"):
                value = getattr(sub, attr, None)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None


def _as_sequence_map(model: Any, dt: float, dtype: torch.dtype) -> tuple[SequenceMap, torch.device]:
    """Wrap ``model`` as ``(batch, T, d) -> (batch, T, out)`` in ``dtype``; and its device."""
    device = torch.device("cpu")
    if isinstance(model, LinearFunctional):
        call: Callable[[torch.Tensor], Any] = lambda x: model(x, dt)  # noqa: E731
    elif isinstance(model, torch.nn.Module):
        tensors = itertools.chain(model.parameters(), model.buffers())
        first = next(tensors, None)
        if first is not None:
            device = first.device
        try:
            module = copy.deepcopy(model).to(dtype).eval()
        except Exception as err:  # noqa: BLE001 - report any copy failure clearly
            raise TypeError(f"could not copy the model to {dtype}: {err}") from err
        if isinstance(module, torch.nn.RNNBase) and not module.batch_first:
            call = lambda x: _first(module(x.transpose(0, 1))).transpose(0, 1)  # noqa: E731
        else:
            call = module
    else:
        call = model

    def fn(x: torch.Tensor) -> torch.Tensor:
        y = _first(call(x))
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"model output must be a torch.Tensor, got {type(y).__name__}")
        if y.dim() == 2:
            y = y.unsqueeze(-1)
        if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(
                f"model output must have shape (batch, T, out) = ({x.shape[0]}, {x.shape[1]}, "
                f"out) for input {tuple(x.shape)}, got {tuple(y.shape)}"
            )
        return y.to(dtype)

    return fn, device


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def _input_pattern(
    kind: str, length: int, offset: int, dt: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Scalar time profile p of the test input u_j = p_j x: shape ``(T_total,)``."""
    if kind == "heaviside":  # u_j = x, j >= 0
        return torch.ones(length, dtype=dtype, device=device)
    if kind == "impulse":  # u_0 = x / dt
        pattern = torch.zeros(length, dtype=dtype, device=device)
        pattern[0] = 1.0 / dt
        return pattern
    pattern = torch.zeros(offset + length, dtype=dtype, device=device)  # reversed
    pattern[:offset] = 1.0
    return pattern


def _current_and_previous(
    y: torch.Tensor, kind: str, offset: int, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs at t_k and at the step before, ``(B, length, ...)`` each (``y_{-1} = 0``)."""
    current = y[:, offset : offset + length]
    if offset == 0:  # heaviside / impulse: nothing precedes k = 0
        previous = torch.cat([torch.zeros_like(y[:, :1]), y[:, : length - 1]], dim=1)
    else:  # reversed: k = 0 is compared with the last burn-in output
        previous = y[:, offset - 1 : offset + length - 1]
    return current, previous


def _difference(y: torch.Tensor, kind: str, offset: int, length: int, dt: float) -> torch.Tensor:
    """Memory response R_k from outputs y (B, T_total, out): shape ``(B, length, out)``."""
    current, previous = _current_and_previous(y, kind, offset, length)
    if kind == "impulse":  # SPEC eq 121: y_k itself
        return current
    return (current - previous) / dt  # SPEC eqs 7, 128


def _pair_sum(size: torch.Tensor, kind: str, offset: int, length: int, dt: float) -> torch.Tensor:
    """Magnitude of what :func:`_difference` combines: ``(B, length)`` from ``(B, T_total)``."""
    current, previous = _current_and_previous(size, kind, offset, length)
    if kind == "impulse":
        return current
    return (current + previous) / dt


# ------------------------------------------------------------------------ causality


def _check_causality(
    fn: SequenceMap, total: int, d: int, dtype: torch.dtype, device: torch.device, seed: int
) -> None:
    """Raise if outputs up to step k change when only inputs after k change."""
    gen = torch.Generator().manual_seed(seed + 1)
    cut = total // 2
    x = torch.randn(2, total, d, generator=gen, dtype=torch.float64)
    x_alt = x.clone()
    x_alt[:, cut + 1 :] = torch.randn(2, total - cut - 1, d, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        y = fn(torch.cat([x, x_alt]).to(device=device, dtype=dtype))
    before, before_alt = y[:2, : cut + 1], y[2:, : cut + 1]
    size = float(y.abs().max())
    gap = float((before - before_alt).abs().max())
    tol = 1e4 * torch.finfo(dtype).eps * max(size, 1e-300)
    if not math.isfinite(gap) or gap > tol:
        raise ValueError(
            f"model is not causal: changing inputs after step {cut} changed outputs at or "
            f"before step {cut} by up to {gap:.3g} (output scale {size:.3g}); memory functions "
            "are defined for causal models only (e.g. not bidirectional RNNs)"
        )


# ------------------------------------------------------------------ linear response


def _linear_response(
    fn: SequenceMap, pattern: torch.Tensor, d: int, zero_out: torch.Tensor
) -> tuple[torch.Tensor, str]:
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
    except Exception:  # noqa: BLE001 - no forward-mode support: fall back
        # Central differences: O(h^2) truncation, ~eps/h rounding.
        h = 1e-5 if pattern.dtype == torch.float64 else 1e-2
        with torch.no_grad():
            y = fn(torch.cat([h * tangent, -h * tangent]))
        return (y[:d] - y[d:]) / (2 * h), "central-difference"


def _candidate_directions(
    lin_signs: torch.Tensor,
    d: int,
    n_random: int,
    max_enumerated_dim: int,
    max_linear: int,
    seed: int,
) -> torch.Tensor:
    """Unit max-norm directions to probe at finite amplitude: ``(n_dir, d)``."""
    parts = []
    if d <= max_enumerated_dim:  # all 2^d sign vectors
        parts.append(torch.tensor(list(itertools.product((1.0, -1.0), repeat=d))))
    signs = torch.unique(lin_signs.cpu().double(), dim=0)  # linear-response-optimal
    if signs.shape[0] > max_linear:
        signs = signs[torch.linspace(0, signs.shape[0] - 1, max_linear).round().long()]
    parts += [signs, -signs]
    eye = torch.eye(d, dtype=torch.float64)
    parts += [eye, -eye]
    if n_random:
        gen = torch.Generator().manual_seed(seed)
        rand = torch.randn(n_random, d, generator=gen, dtype=torch.float64)
        parts.append(rand / rand.abs().amax(-1, keepdim=True))
    directions = torch.cat([p.double() for p in parts])
    _, first = np.unique(np.round(directions.numpy(), 12), axis=0, return_index=True)
    return directions[np.sort(first)]


# ----------------------------------------------------------------------- probing


def _probe(
    fn: SequenceMap,
    directions: torch.Tensor,
    scales: np.ndarray,
    pattern: torch.Tensor,
    zero_out: torch.Tensor,
    kind: str,
    offset: int,
    length: int,
    dt: float,
    normalization: str,
    max_batch: int,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-t maximum over directions x scales of max_c |R_k,c| / norm(s).

    Returns best value, direction index and scale index, each ``(length,)``.
    """
    n_dir = directions.shape[0]
    scale_t = torch.as_tensor(scales, dtype=pattern.dtype, device=pattern.device)
    pairs = torch.cartesian_prod(torch.arange(n_dir), torch.arange(len(scales)))  # (N, 2)
    best_val = torch.full((length,), -math.inf, dtype=pattern.dtype, device=pattern.device)
    best_pair = torch.zeros(length, dtype=torch.long, device=pattern.device)
    chunks = range(0, pairs.shape[0], max_batch)
    for start in tqdm(chunks, desc="memory probes", disable=not progress, leave=False):
        idx = pairs[start : start + max_batch]
        s = scale_t[idx[:, 1]]  # (n,)
        x = (s[:, None] * directions[idx[:, 0]])[:, None, :] * pattern[None, :, None]
        with torch.no_grad():
            y = fn(x)  # (n, T_total, out)
        response = _difference(y - zero_out, kind, offset, length, dt)  # (n, length, out)
        amp = response.abs().amax(-1)  # (n, length): max-norm over output channels
        # Rounding floor of the difference: below it the probe measures nothing.
        size = y.abs().amax(-1) + zero_out.abs().amax(-1)  # (n, T_total)
        floor = (
            _ROUNDING_FACTOR * torch.finfo(y.dtype).eps * _pair_sum(size, kind, offset, length, dt)
        )
        amp = torch.where(amp > floor, amp, torch.zeros_like(amp))
        amp = amp / (s if normalization == "x" else s + 1.0)[:, None]
        amp = torch.where(torch.isfinite(amp), amp, torch.full_like(amp, -math.inf))
        val, arg = amp.max(0)
        better = val > best_val
        best_val = torch.where(better, val, best_val)
        best_pair = torch.where(better, arg + start, best_pair)
    best_val = torch.where(torch.isfinite(best_val), best_val, torch.zeros_like(best_val))
    chosen = pairs.to(best_pair.device)[best_pair]
    return best_val, chosen[:, 0], chosen[:, 1]
