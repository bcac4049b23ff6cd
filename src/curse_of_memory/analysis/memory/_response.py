"""Test inputs and the memory ratio |R_k(x)| / norm(x) of a batch of inputs x.

Discretisation on ``t_k = k dt`` (paper eqs 7, 121, 128):

* heaviside: u_j = x for j >= 0;                  R_k = (y_k - y_{k-1}) / dt, y_{-1} = 0.
* impulse:   u_0 = x / dt, u_j = 0 for j > 0;    R_k = y_k.
* reversed:  u_j = x on B burn-in steps before k = 0, then 0;
  R_k = (y_{B+k} - y_{B+k-1}) / dt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

_ROUNDING_FACTOR = 64.0  # probe differences below 64 eps |y| / dt are rounding noise


def input_pattern(
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
    y: torch.Tensor, offset: int, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs at t_k and at the step before, ``(B, length, ...)`` each (``y_{-1} = 0``)."""
    current = y[:, offset : offset + length]
    if offset == 0:  # heaviside / impulse: nothing precedes k = 0
        previous = torch.cat([torch.zeros_like(y[:, :1]), y[:, : length - 1]], dim=1)
    else:  # reversed: k = 0 is compared with the last burn-in output
        previous = y[:, offset - 1 : offset + length - 1]
    return current, previous


def difference(y: torch.Tensor, kind: str, offset: int, length: int, dt: float) -> torch.Tensor:
    """Memory response R_k from outputs y ``(B, T_total, out)``: shape ``(B, length, out)``."""
    current, previous = _current_and_previous(y, offset, length)
    if kind == "impulse":  # paper eq 121: y_k itself
        return current
    return (current - previous) / dt  # paper eqs 7, 128


@dataclass
class Prober:
    """Evaluates the memory ratio of batches of constant input vectors x.

    Attributes
    ----------
    fn: the model as a ``(batch, T, d) -> (batch, T, out)`` map.
    pattern: ``(T_total,)`` time profile of the test input.
    zero_out: ``(1, T_total, out)`` output for the zero input (subtracted, Definition 2.1).
    kind, offset, length, dt: the test input and the grid (see the module docstring).
    normalization: ``"x"`` (divide by |x|_inf) or ``"x+1"`` (by |x|_inf + 1).
    max_batch: largest number of input sequences per model call.
    progress: show a tqdm bar over the batches of one call.
    n_probes: running count of probe sequences evaluated.
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    pattern: torch.Tensor
    zero_out: torch.Tensor
    kind: str
    offset: int
    length: int
    dt: float
    normalization: str
    max_batch: int
    progress: bool = False
    n_probes: int = 0

    def best(
        self,
        x: torch.Tensor,
        desc: str = "memory probes",
        labels: torch.Tensor | None = None,
        time_labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-t maximum over the inputs ``x`` ``(n, d)`` of max_c |R_k,c(x)| / norm(x).

        Returns the best ratio and the index of the input that attains it, each
        ``(length,)`` (-inf where no input counts). Probes whose difference is below its
        rounding floor (64 eps (|y_k| + |y_{k-1}|) / dt) count as 0; non-finite ones are
        ignored. With ``labels`` ``(n,)`` and ``time_labels`` ``(length,)``, input i
        counts at t_k only if ``labels[i] == time_labels[k]``.
        """
        dtype, device = self.pattern.dtype, self.pattern.device
        best_val = torch.full((self.length,), -math.inf, dtype=dtype, device=device)
        best_idx = torch.zeros(self.length, dtype=torch.long, device=device)
        chunks = range(0, x.shape[0], self.max_batch)
        bar = tqdm(chunks, desc=desc, disable=not self.progress, leave=False)
        for start in bar:
            ratios = self._ratios(x[start : start + self.max_batch])  # (n, length)
            if labels is not None:
                mine = labels[start : start + self.max_batch, None] == time_labels[None, :]
                ratios.masked_fill_(~mine, -math.inf)
            val, arg = ratios.max(0)
            better = val > best_val
            best_val = torch.where(better, val, best_val)
            best_idx = torch.where(better, arg + start, best_idx)
        self.n_probes += int(x.shape[0])
        return best_val, best_idx

    def best_per_direction(
        self, directions: torch.Tensor, amplitudes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per direction and t, the best ratio over ``amplitudes`` and its index.

        ``directions`` ``(n_dir, d)``, ``amplitudes`` ``(n_amp,)``; returns two
        ``(n_dir, length)`` tensors (value, amplitude index).
        """
        n_dir, n_amp = directions.shape[0], amplitudes.shape[0]
        per_call = max(1, self.max_batch // n_amp)  # directions per model call
        values, indices = [], []
        chunks = range(0, n_dir, per_call)
        for start in tqdm(chunks, desc="memory: grid", disable=not self.progress, leave=False):
            dirs = directions[start : start + per_call]  # (n, d)
            x = (dirs[:, None, :] * amplitudes[None, :, None]).reshape(-1, dirs.shape[1])
            val, idx = self._ratios(x).reshape(dirs.shape[0], n_amp, self.length).max(1)
            values.append(val)
            indices.append(idx)
        self.n_probes += n_dir * n_amp
        return torch.cat(values), torch.cat(indices)

    def _ratios(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, length)`` ratios for inputs ``x`` ``(n, d)``; -inf where not finite."""
        s = x.abs().amax(-1)  # (n,) amplitude |x|_inf
        with torch.no_grad():
            y = self.fn(x[:, None, :] * self.pattern[None, :, None])  # (n, T_total, out)
        # Unscaled response: y_k - y_{k-1} (times dt it is R_k), or y_k for impulses.
        current, previous = _current_and_previous(y, self.offset, self.length)
        zero_now, zero_before = _current_and_previous(self.zero_out, self.offset, self.length)
        response = current - zero_now
        if self.kind != "impulse":
            response -= previous
            response += zero_before
        amp = _max_abs(response)  # (n, length): max-norm over output channels
        # Rounding floor of the (unscaled) response: 64 eps (|y_k| + |y_{k-1}|).
        floor = _max_abs(current) + _max_abs(zero_now)
        if self.kind != "impulse":
            floor += _max_abs(previous) + _max_abs(zero_before)
        amp.masked_fill_(amp <= _ROUNDING_FACTOR * torch.finfo(y.dtype).eps * floor, 0.0)
        norm = s if self.normalization == "x" else s + 1.0
        if self.kind != "impulse":
            norm = norm * self.dt
        amp /= norm[:, None]
        return torch.nan_to_num_(amp, nan=-math.inf, posinf=-math.inf)


def _max_abs(y: torch.Tensor) -> torch.Tensor:
    """``(B, L)`` max over the last axis of ``|y|`` ``(B, L, out)``."""
    return y[..., 0].abs() if y.shape[-1] == 1 else y.abs().amax(-1)
