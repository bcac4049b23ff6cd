"""Memory functions M(H)(t) of causal sequence-to-sequence maps (paper Definition 3.1).

Three test inputs, discretised on the grid ``t_k = k dt``:

* ``heaviside`` (paper eq 7):  u_j = x for j >= 0;
  M_k = sup_x |y_k - y_{k-1}| / (dt |x|_inf),  y_{-1} = 0.
* ``impulse`` (paper eq 121):  u_0 = x / dt, u_j = 0 for j > 0;
  M_k = sup_x |y_k| / |x|_inf.
* ``reversed`` (paper eq 128): u_j = x on a burn-in of B steps before k = 0, then 0;
  M_k = sup_x |y_{B+k} - y_{B+k-1}| / (dt |x|_inf).

For the linear functional y_k = dt sum_j rho(j dt) x_{k-j} the first two give exactly
|rho(k dt)|_1 and the third |rho(k dt) - rho((k + B) dt)|_1 (paper eqs 6, 122, 129).

The supremum runs over 0 < |x|_inf <= ``input_bound`` (default 1: the paper defines
the memory over *bounded* Heaviside inputs and probes inputs of unit size; ``inf``
lifts the bound, and then every saturating RNN has memory ~ 1/t, because a larger
input keeps a saturated unit away from its fixed point for longer). It is estimated as
the larger of

1. the small-amplitude limit s -> 0 (normalization ``"x"`` only), exact by
   forward-mode differentiation: for a linear map this *is* the supremum;
2. a search over amplitudes and directions (see ``_search``), refined at every t until
   a refinement changes the value by less than ``tolerance`` (relative).

Before probing, the zero-input response is subtracted (H_t(x) - H_t(0), Definition 2.1),
so models with biases are handled, and causality is checked on a random probe.

Rounding. A probe whose difference at t_k is below 64 eps (|y_k| + |y_{k-1}|) / dt (its
rounding floor) measures nothing and counts as 0 there; memories that decay far enough
therefore bottom out near eps relative to their peak; ``fit_decay`` cuts that floor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from curse_of_memory._validation import (
    check_choice,
    check_memory_budget,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    memory_budget,
)
from curse_of_memory.analysis.memory._linear import linear_response
from curse_of_memory.analysis.memory._response import Prober, input_pattern
from curse_of_memory.analysis.memory._result import MemoryFunction
from curse_of_memory.analysis.memory._search import (
    amplitude,
    candidate_directions,
    default_amplitudes,
    search_supremum,
)
from curse_of_memory.analysis.memory._subject import (
    as_sequence_map,
    check_causality,
    resolve_input_dim,
    zero_input_response,
)

KINDS = ("heaviside", "impulse", "reversed")
NORMALIZATIONS = ("x", "x+1")
# Working arrays per probe sequence and time step, in values of the evaluation dtype:
# the input (d), the output, its difference, the rounding floor, the ratio, and room
# for the model's own intermediate states.
_ARRAYS_PER_STEP = 8


def memory_function(
    model: Any,
    length: int,
    dt: float,
    kind: str = "heaviside",
    input_dim: int | None = None,
    *,
    input_bound: float = 1.0,
    normalization: str = "x",
    tolerance: float = 1e-3,
    max_refinements: int = 30,
    scales: Sequence[float] | None = None,
    burn_in: int | None = None,
    n_random_directions: int = 16,
    max_enumerated_dim: int = 6,
    max_linear_directions: int = 64,
    max_refined_directions: int = 64,
    n_starts: int = 3,
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
        ``"heaviside"`` (paper eq 7), ``"impulse"`` (eq 121) or ``"reversed"`` (eq 128).
    input_dim:
        Input channels d. Inferred from ``LinearFunctional.input_dim``, a model
        attribute ``input_dim``/``input_size``/``in_features``, or the first
        submodule having ``input_size`` or ``in_features``; required otherwise.
    input_bound:
        X > 0: the supremum runs over inputs 0 < |x|_inf <= X (default 1, the
        paper's bounded inputs of unit size); ``float("inf")`` for no bound.
    normalization:
        ``"x"`` divides by |x|_inf (Definition 3.1), ``"x+1"`` by |x|_inf + 1.
    tolerance:
        A time stops refining when one refinement changed its value by less than
        this, relative (in (0, 0.1]).
    max_refinements:
        Most refinement rounds (0: evaluate the starting grid only; the result is
        then marked ``converged=False``).
    scales:
        Starting amplitudes s = |x|_inf, each in (0, input_bound]; default 8 per
        decade from min(input_bound, 1) * 1e-3 up to input_bound (1e3 if unbounded).
        The search refines around them, so they set where it starts, not where it
        ends; to restrict the inputs use ``input_bound``.
    burn_in:
        Burn-in length B for ``kind="reversed"`` (default ``length``); ignored otherwise.
    n_random_directions:
        Seeded random starting directions (d > 1).
    max_enumerated_dim:
        Start from all 2^d sign vectors when d is at most this.
    max_linear_directions:
        At most this many linear-response-optimal sign vectors (plus negatives).
    max_refined_directions:
        Per refinement round, the directions of the maximisers of at most this many
        times (evenly spread) are refined (d > 1); each costs 2d probes.
    n_starts:
        At every t the best grid points of this many starting directions are refined
        separately, so that a second local maximum is not lost (each costs one search).
    dtype:
        ``torch.float64`` (default) or ``torch.float32`` for the evaluation.
    check_causal:
        Raise if the output before step k depends on inputs after k (random probe).
    seed:
        Seed of the random directions and of the causality probe.
    max_batch:
        Largest batch of probe sequences in one forward call (lowered automatically
        when the memory budget requires it).
    progress:
        Show tqdm bars over the probe batches.

    Returns
    -------
    MemoryFunction with ``t``, ``values`` of shape ``(length,)``, the maximising input
    at every t, the bound, the tolerance and whether the search converged.

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, a model that is not causal or whose output is not
        finite, or wrong output shapes.
    MemoryBudgetError
        If even one probe sequence would not fit in the memory budget.
    """
    length = check_positive_int("length", length)
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    dt = check_positive_float("dt", dt)
    check_choice("kind", kind, KINDS)
    check_choice("normalization", normalization, NORMALIZATIONS)
    bound = _check_input_bound(input_bound)
    tolerance = check_positive_float("tolerance", tolerance)
    if tolerance > 0.1:
        raise ValueError(f"tolerance must be in (0, 0.1] (a relative change), got {tolerance}")
    max_refinements = check_nonnegative_int("max_refinements", max_refinements)
    amplitudes = default_amplitudes(bound) if scales is None else _check_scales(scales, bound)
    burn = length if burn_in is None else check_positive_int("burn_in", burn_in)
    n_random_directions = check_nonnegative_int("n_random_directions", n_random_directions)
    max_enumerated_dim = check_nonnegative_int("max_enumerated_dim", max_enumerated_dim)
    max_linear_directions = check_nonnegative_int("max_linear_directions", max_linear_directions)
    max_refined_directions = check_positive_int("max_refined_directions", max_refined_directions)
    n_starts = check_positive_int("n_starts", n_starts)
    max_batch = check_positive_int("max_batch", max_batch)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if not callable(model):
        raise TypeError(f"model must be callable on (batch, T, d) tensors, got {type(model)}")
    d = resolve_input_dim(model, input_dim)
    offset = burn if kind == "reversed" else 0  # index of t_0 in the probe sequence
    total = offset + length
    max_batch = _batch_within_budget(total, d, dtype, max_batch, length)
    fn, device = as_sequence_map(model, dt, dtype)

    pattern = input_pattern(kind, length, offset, dt, dtype, device)  # (T_total,)
    zero_out = zero_input_response(fn, total, d, dtype, device)  # (1, T_total, out)
    if check_causal:
        check_causality(fn, total, d, dtype, device, seed)
    lin_values, lin_signs, method = linear_response(fn, pattern, d, kind, offset, length, dt)
    # The s -> 0 limit is a candidate only for 1/|x|_inf ("x+1" gives 0 there).
    limit = lin_values if normalization == "x" else torch.zeros_like(lin_values)

    directions = candidate_directions(
        lin_signs, d, n_random_directions, max_enumerated_dim, max_linear_directions, seed
    ).to(device=device, dtype=dtype)  # (n_dir, d)
    prober = Prober(fn, pattern, zero_out, kind, offset, length, dt, normalization, max_batch,
                    progress)  # fmt: skip
    log_grid = torch.as_tensor(np.log(amplitudes), dtype=dtype, device=device)
    found = search_supremum(
        prober, directions, log_grid, bound, limit, tolerance, max_refinements,
        max_refined_directions, n_starts,
    )  # fmt: skip
    if max_refinements == 0:
        found.converged = False
        found.notes.append("max_refinements=0: the starting grid only")
    elif not found.converged:
        warnings.warn(
            f"memory_function: the supremum has not converged ({'; '.join(found.notes)})",
            RuntimeWarning,
            stacklevel=2,
        )

    # Prefer the exact small-amplitude limit unless a finite input beats it by more
    # than rounding.
    use_limit = limit * (1 + 64 * torch.finfo(dtype).eps) >= found.value
    if normalization == "x+1":
        use_limit = torch.zeros_like(use_limit)
    values = torch.where(use_limit, limit, found.value.clamp(min=0.0))
    max_dir = torch.where(use_limit[:, None], lin_signs, found.direction)
    found_scale = amplitude(found.log_amplitude, bound)
    max_scale = torch.where(use_limit, torch.zeros_like(values), found_scale)

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
        input_bound=bound,
        tolerance=tolerance,
        converged=found.converged,
        meta={
            "initial_amplitudes": amplitudes.tolist(),
            "n_directions": int(directions.shape[0]),
            "n_probes": prober.n_probes,
            "refinements": found.rounds,
            "notes": found.notes,
            "linear_response_method": method,
            "dtype": str(dtype).replace("torch.", ""),
            "estimator": "max of the s->0 limit and a refined amplitude/direction search",
        },
    )


def _check_input_bound(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"input_bound must be a positive number or float('inf'), got {value!r}")
    try:
        bound = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"input_bound must be a positive number or float('inf'), got {value!r}"
        ) from None
    if math.isnan(bound) or bound <= 0:
        raise ValueError(f"input_bound must be a positive number or float('inf'), got {value!r}")
    return bound


def _check_scales(scales: Sequence[float], bound: float) -> np.ndarray:
    """Sorted unique starting amplitudes, each in (0, bound]."""
    try:
        arr = np.asarray(scales, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"scales must be a sequence of positive numbers, got {scales!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"scales must be a non-empty sequence of positive finite numbers, got {scales!r}"
        )
    if np.any(arr > bound):
        raise ValueError(
            f"scales must lie in (0, input_bound={bound:g}], got a largest scale of "
            f"{arr.max():g}; raise input_bound to probe larger inputs"
        )
    return np.unique(arr)


def _batch_within_budget(total: int, d: int, dtype: torch.dtype, max_batch: int,
                         length: int) -> int:  # fmt: skip
    """Largest probe batch (<= ``max_batch``) whose working arrays fit the memory budget.

    Raises ``MemoryBudgetError`` before anything is allocated if even the smallest
    evaluation (the linear response: d sequences carrying d tangents) does not fit.
    """
    itemsize = torch.finfo(dtype).bits // 8
    per_sequence = itemsize * total * (d + _ARRAYS_PER_STEP)
    smallest = per_sequence * max(2 * d, 4)
    check_memory_budget(smallest, f"memory_function(length={length}, input_dim={d}, dtype={dtype})")
    return max(1, min(max_batch, memory_budget() // per_sequence))
