"""The supremum over inputs 0 < |x|_inf <= X, searched until it has converged.

Write x = s v with direction v (|v|_inf = 1) and amplitude s = |x|_inf. One probe
sequence gives the ratio at every t_k at once; the maximiser is searched separately
at every t_k:

1. Start: every candidate direction times a log-uniform grid of amplitudes, 8 per
   decade, from min(X, 1) * 1e-3 up to X (up to 1e3 when X is infinite). At every
   t the best grid points of up to ``n_starts`` directions at least
   ``START_SEPARATION`` apart (and within ``RUNNER_UP`` of the best) start separate
   local searches: the ratio can have several local maxima, and a runner-up at one
   time can win at a later one. A local search shares probes only with the times
   that started from the same direction, so it never jumps to another basin.
2. Bracket: where the best amplitude is the largest one tried and X allows more, a
   decade of amplitudes is added above (up to 1e12); where it is the smallest one
   tried and beats the small-amplitude limit, a decade below (down to 1e-9 of the
   grid's bottom). Repeated while the supremum still grows by ``tolerance`` or more.
3. Refine: round r tries, around every time's current maximiser, the amplitudes
   s e^{+-h / 2^r} (h: the grid spacing in log s) and, for d > 1, the directions
   v +- 2^-r e_i renormalised to |v|_inf = 1 (for the maximisers of at most
   ``max_refined_directions`` times, evenly spread). A time stops refining when a
   round changed its value by less than ``tolerance`` (relative) once the amplitude
   step (in log s) is below ``tolerance`` too.

On a smooth, unimodal ratio this is a bisection in log s, so the last change bounds
the remaining error; a maximum narrower than the grid spacing can still be missed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from curse_of_memory.analysis.memory._response import Prober

GRID_PER_DECADE = 8  # initial amplitudes per decade (spacing factor 10^(1/8) = 1.33)
GRID_DECADES_BELOW = 3  # the grid starts 3 decades below min(X, 1)
UNBOUNDED_GRID_TOP = 1e3  # top of the initial grid when X is infinite
LARGEST_AMPLITUDE = 1e12  # bracketing stops here (the sup may be infinite beyond)
DECADES_BELOW_GRID = 9  # bracketing downwards stops 9 decades below the grid
START_SEPARATION = 0.5  # starting directions closer than this (max-norm) share a basin
RUNNER_UP = 0.8  # runner-up starts below 80 % of the best start's grid value are dropped


def default_amplitudes(input_bound: float) -> np.ndarray:
    """The initial amplitude grid for a bound X: ``(n,)``, ascending, ending at X if finite."""
    top = UNBOUNDED_GRID_TOP if math.isinf(input_bound) else input_bound
    bottom = min(top, 1.0) * 10.0**-GRID_DECADES_BELOW
    n_steps = round(GRID_PER_DECADE * math.log10(top / bottom))
    return top * 10.0 ** (-np.arange(n_steps, -1, -1) / GRID_PER_DECADE)


def amplitude(log_amplitude: torch.Tensor, bound: float) -> torch.Tensor:
    """s = e^{log s}, clipped to the bound X (the exponential of log X can round above X)."""
    return torch.exp(log_amplitude).clamp(max=bound)


def candidate_directions(
    lin_signs: torch.Tensor, d: int, n_random: int, max_enumerated_dim: int, max_linear: int,
    seed: int,
) -> torch.Tensor:  # fmt: skip
    """Unit max-norm directions to start from: ``(n_dir, d)`` float64.

    All 2^d sign vectors when d <= ``max_enumerated_dim``; the linear-response-optimal
    sign vectors (at most ``max_linear``) and their negatives; +-e_i; ``n_random``
    seeded random directions.
    """
    parts = []
    if d <= max_enumerated_dim:
        parts.append(torch.tensor(list(itertools.product((1.0, -1.0), repeat=d))))
    signs = torch.unique(lin_signs.cpu().double(), dim=0)
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


@dataclass
class SearchResult:
    """Per-t best finite-amplitude ratio, its direction ``(length, d)`` and log amplitude."""

    value: torch.Tensor
    direction: torch.Tensor
    log_amplitude: torch.Tensor
    converged: bool
    rounds: int
    notes: list[str] = field(default_factory=list)


@dataclass
class _Search:
    """One local search per t, started from one starting direction per t.

    Probes are shared between the times that started from the same direction
    (``label``), and only between those: a time never jumps to another basin of the
    ratio through a probe made for another time.
    """

    prober: Prober
    limit: torch.Tensor  # (length,) value the search must beat to matter (s -> 0 limit)
    tolerance: float
    low: float  # lowest log amplitude allowed
    high: float  # highest log amplitude allowed
    bound: float  # X: amplitudes are clipped to it (exp(log X) may round above X)
    best: SearchResult  # current per-t maximiser, from the starting grid
    label: torch.Tensor  # (length,) index of each time's starting direction

    def evaluate(
        self, dirs: torch.Tensor, log_amp: torch.Tensor, labels: torch.Tensor, desc: str
    ) -> torch.Tensor:
        """Probe x = e^{log_amp} dirs ``(n, d)`` made for the times labelled ``labels``
        ``(n,)``; update those times' best; return the relative gain per t."""
        log_amp = log_amp.clamp(self.low, self.high)
        keys = torch.cat([labels[:, None].to(dirs), dirs, log_amp[:, None]], 1)
        keys = torch.unique(keys, dim=0)  # no duplicate probes
        labels, dirs, log_amp = keys[:, 0].long(), keys[:, 1:-1], keys[:, -1]
        x = dirs * amplitude(log_amp, self.bound)[:, None]
        val, idx = self.prober.best(x, desc, labels, self.label)
        before = torch.maximum(self.best.value, self.limit)
        better = val > self.best.value
        self.best.value = torch.where(better, val, self.best.value)
        self.best.direction = torch.where(better[:, None], dirs[idx], self.best.direction)
        self.best.log_amplitude = torch.where(better, log_amp[idx], self.best.log_amplitude)
        after = torch.maximum(self.best.value, self.limit)
        gain = (after - before) / after
        return torch.where(after > 0, gain, torch.zeros_like(gain))

    def maximizers(
        self, where: torch.Tensor, at_most: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distinct maximisers of the times in ``where``: labels, directions, log amplitudes.

        With ``at_most``, only those of at most that many times, evenly spread.
        """
        times = torch.nonzero(where).flatten()
        if at_most is not None and times.numel() > at_most:
            times = times[torch.linspace(0, times.numel() - 1, at_most).round().long()]
        best = self.best
        rows = torch.cat(
            [self.label[times, None].to(best.direction), best.direction[times],
             best.log_amplitude[times, None]], 1,
        )  # fmt: skip
        rows = torch.unique(rows, dim=0)
        return rows[:, 0].long(), rows[:, 1:-1], rows[:, -1]


def search_supremum(
    prober: Prober,
    directions: torch.Tensor,
    log_grid: torch.Tensor,
    bound: float,
    limit: torch.Tensor,
    tolerance: float,
    max_refinements: int,
    max_refined_directions: int,
    n_starts: int,
) -> SearchResult:
    """Per-t supremum of the ratio over finite amplitudes (steps 1-3 of the module docstring).

    Parameters
    ----------
    prober: evaluates the ratio of a batch of inputs.
    directions: ``(n_dir, d)`` starting directions, |v|_inf = 1.
    log_grid: ``(n_amp,)`` ascending log amplitudes of the starting grid.
    bound: X (``inf`` when unrestricted).
    limit: ``(length,)`` the small-amplitude limit (zeros with normalization "x+1"):
        a time whose value it exceeds gains nothing from refining.
    tolerance: relative change per round below which a time stops refining.
    max_refinements: most refinement rounds.
    max_refined_directions: most distinct maximisers whose directions are refined per round.
    n_starts: at every t, the best grid point of each of the ``n_starts`` best
        starting directions (at least ``START_SEPARATION`` apart, and within
        ``RUNNER_UP`` of the best) is refined separately: the ratio can have several
        local maxima, and a runner-up at one time can be the winner at a later one.
    """
    spacing = float(log_grid.diff().max()) if log_grid.numel() > 1 else math.log(10) / 4
    low = float(log_grid[0]) - DECADES_BELOW_GRID * math.log(10)
    high = math.log(LARGEST_AMPLITUDE if math.isinf(bound) else bound)
    grid_value, grid_index = prober.best_per_direction(directions, amplitude(log_grid, bound))
    top_value, top_direction = _distinct_starts(grid_value, directions, n_starts)
    found = None
    for rank in range(top_value.shape[0]):
        start_dir = top_direction[rank]  # (length,) index of the start direction
        start = SearchResult(
            value=top_value[rank].clone(),
            direction=directions[start_dir],
            log_amplitude=log_grid[grid_index[start_dir, torch.arange(start_dir.numel())]],
            converged=False,
            rounds=0,
        )
        search = _Search(prober, limit, tolerance, low, high, bound, start, start_dir)
        # A runner-up is refined where it is within RUNNER_UP of the best start, and not
        # a mirror image of it (the same value, e.g. -x for an odd map).
        distinct = None
        if rank:
            distinct = (top_value[rank] >= RUNNER_UP * top_value[0]) & (
                top_value[rank] < top_value[0] * (1 - 1e-12)
            )
        notes = _bracket(search, float(log_grid[0]), float(log_grid[-1]), spacing, distinct)
        rounds = _refine(search, spacing, max_refinements, max_refined_directions, distinct)
        if rounds > max_refinements:
            notes.append(f"some times still changed by >= {tolerance:g} after "
                         f"{max_refinements} refinements")  # fmt: skip
            rounds = max_refinements
        result = search.best
        result.rounds, result.notes = rounds, notes
        found = result if found is None else _better_of(found, result)
    found.converged = not found.notes
    return found


def _distinct_starts(
    grid_value: torch.Tensor, directions: torch.Tensor, n_starts: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per t, the best starting directions at least ``START_SEPARATION`` apart.

    ``grid_value`` ``(n_dir, length)``; returns values and direction indices, each
    ``(k, length)`` with k <= ``n_starts``, best first (a direction too close to a
    better one would refine into the same local maximum). Where fewer than k are
    far enough apart the best one is repeated (value -inf).
    """
    close = torch.cdist(directions, directions, p=math.inf) < START_SEPARATION  # (n, n)
    available = grid_value.clone()
    values, indices = [], []
    for _ in range(min(n_starts, directions.shape[0])):
        value, index = available.max(0)  # (length,)
        if values and not bool(torch.isfinite(value).any()):
            break
        values.append(value)
        indices.append(index)
        available.masked_fill_(close[:, index], -math.inf)  # (n_dir, length)
    top_index = torch.stack(indices)
    top_value = torch.stack(values)
    missing = ~torch.isfinite(top_value)
    return top_value, torch.where(missing, top_index[:1], top_index)


def _better_of(a: SearchResult, b: SearchResult) -> SearchResult:
    """Per-t the better of two results (notes and rounds combined)."""
    take = b.value > a.value
    return SearchResult(
        value=torch.where(take, b.value, a.value),
        direction=torch.where(take[:, None], b.direction, a.direction),
        log_amplitude=torch.where(take, b.log_amplitude, a.log_amplitude),
        converged=False,
        rounds=max(a.rounds, b.rounds),
        notes=a.notes + [n for n in b.notes if n not in a.notes],
    )


def _refine(
    search: _Search,
    spacing: float,
    max_refinements: int,
    max_refined_directions: int,
    only: torch.Tensor | None,
) -> int:
    """Step 3; returns the rounds used, ``max_refinements + 1`` if some time still changed."""
    limit, tolerance = search.limit, search.tolerance
    d = search.best.direction.shape[1]
    active = torch.ones_like(search.best.value, dtype=torch.bool) if only is None else only
    for rounds in range(1, max_refinements + 1):
        step = spacing / 2**rounds
        # Where no finite amplitude beats the s -> 0 limit by a tenth of `tolerance`,
        # the ratio is flat at that limit around the probes (a linear map): nothing
        # to refine.
        beats_limit = search.best.value > limit * (1 + tolerance / 10)
        where = active & beats_limit & (search.best.value > 0)
        if not bool(where.any()):
            return rounds - 1
        labels, dirs, log_amp = search.maximizers(where)
        cand = [(labels, dirs, log_amp - step), (labels, dirs, log_amp + step)]
        if d > 1:
            labels, dirs, log_amp = search.maximizers(where, max_refined_directions)
            cand.append(
                (labels.repeat_interleave(2 * d), _direction_moves(dirs, 0.5**rounds),
                 log_amp.repeat_interleave(2 * d))
            )  # fmt: skip
        labels, dirs, log_amp = (torch.cat(parts) for parts in zip(*cand, strict=True))
        gain = search.evaluate(dirs, log_amp, labels, f"memory: refinement {rounds}")
        # A round that found nothing better proves little while the step is coarse (a
        # steep, narrow maximum fits between the probes); on the ratio's generic 1/s
        # flank a step of `tolerance` in log s changes it by `tolerance`, relative.
        active = where & ((gain >= tolerance) | (step > tolerance))
    return max_refinements + int(bool(active.any()))


def _bracket(
    search: _Search, bottom: float, top: float, spacing: float, only: torch.Tensor | None
) -> list[str]:
    """Extend the amplitude range where a maximiser sits at its edge (step 2)."""
    notes = []
    decade = torch.arange(1, GRID_PER_DECADE + 1, dtype=torch.float64) * spacing
    everywhere = torch.ones_like(search.best.value, dtype=torch.bool)
    growing = everywhere if only is None else only
    while top < search.high - 1e-9:  # upwards: the ratio may keep growing with s
        at_edge = growing & (search.best.log_amplitude >= top - 1e-9)
        if not bool(at_edge.any()):
            break
        new = (top + decade).clamp(max=search.high)
        growing = at_edge & (_extend(search, at_edge, new) >= search.tolerance)
        top = float(new[-1])
    if top >= math.log(LARGEST_AMPLITUDE) - 1e-9 and bool(
        (growing & (search.best.log_amplitude >= top - 1e-9)).any()
    ):
        notes.append(
            f"the ratio still grows at |x|_inf = {LARGEST_AMPLITUDE:g}: the supremum over "
            "unbounded inputs may be infinite; pass a finite input_bound"
        )
    growing = everywhere if only is None else only
    while bottom > search.low + 1e-9:  # downwards: only where the s -> 0 limit is beaten
        at_edge = (
            growing
            & (search.best.log_amplitude <= bottom + 1e-9)
            & (search.best.value > search.limit * (1 + search.tolerance))
        )
        if not bool(at_edge.any()):
            break
        new = (bottom - decade).clamp(min=search.low)
        growing = at_edge & (_extend(search, at_edge, new) >= search.tolerance)
        bottom = float(new[-1])
    return notes


def _extend(search: _Search, where: torch.Tensor, log_amp: torch.Tensor) -> torch.Tensor:
    """Probe the maximising directions of the times in ``where`` at ``log_amp`` ``(n,)``."""
    labels, dirs, _ = search.maximizers(where)
    n = log_amp.numel()
    return search.evaluate(
        dirs.repeat_interleave(n, 0), log_amp.repeat(dirs.shape[0]),
        labels.repeat_interleave(n), "memory: bracketing",
    )  # fmt: skip


def _direction_moves(dirs: torch.Tensor, step: float) -> torch.Tensor:
    """``(n * 2d, d)``: each of ``dirs`` ``(n, d)`` moved by +-step along every e_i, |.|_inf = 1."""
    n, d = dirs.shape
    moves = torch.cat([torch.eye(d), -torch.eye(d)]).to(dirs) * step  # (2d, d)
    moved = (dirs[:, None, :] + moves[None]).reshape(n * 2 * d, d)
    return moved / moved.abs().amax(-1, keepdim=True)
