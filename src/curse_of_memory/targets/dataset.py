"""Input/output datasets for a target functional.

Inputs follow the official code: white noise ``x = dt * N(0, 1)`` of shape
``(n, length, input_dim)``, optionally integrated in time ("gaussian_process").
Outputs are the target's response; the examples are split at random into
train / validation / test. Everything is reproducible from ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import TensorDataset

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    primary_output,
)
from curse_of_memory.targets.linear import LinearFunctional

INPUT_KINDS = ("white", "gaussian_process")
SPLIT_NAMES = ("train", "val", "test")

Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class SequenceDataset:
    """Train / validation / test pairs ``(inputs, outputs)``.

    ``inputs`` are ``(n_split, length, input_dim)``, ``outputs`` ``(n_split, length, d_out)``.
    """

    train: Pair
    val: Pair
    test: Pair
    dt: float
    target_name: str
    input_kind: str
    seed: int

    def split(self, name: str) -> Pair:
        """The ``(inputs, outputs)`` pair of split ``"train"``, ``"val"`` or ``"test"``."""
        return getattr(self, check_choice("split", name, SPLIT_NAMES))

    def tensor_dataset(self, name: str = "train") -> TensorDataset:
        """A ``torch.utils.data.TensorDataset`` of one split, ready for a ``DataLoader``."""
        return TensorDataset(*self.split(name))

    def sizes(self) -> dict[str, int]:
        """Number of sequences in each split."""
        return {name: self.split(name)[0].shape[0] for name in SPLIT_NAMES}


def make_dataset(
    target: LinearFunctional | torch.nn.Module | Callable[..., Any] | str,
    n: int,
    length: int,
    dt: float,
    input_dim: int = 1,
    seed: int = 0,
    input_kind: str = "white",
    split: Sequence[float] = (0.8, 0.1, 0.1),
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> SequenceDataset:
    """Sample inputs, compute the target's outputs and split them at random.

    Parameters
    ----------
    target:
        A :class:`LinearFunctional` (called as ``target(x, dt)``), a name from
        ``NAMED_MEMORIES`` (shorthand for ``LinearFunctional.named(name, input_dim)``),
        or a torch module / callable ``(batch, T, input_dim) -> (batch, T, d_out)``
        (called as ``target(x)`` under ``torch.no_grad``; a tuple output means its
        first item, as for ``torch.nn.RNN``).
    n: total number of sequences (at least one per split).
    length: sequence length T.
    dt: time step (> 0); scales the inputs and is passed to linear functionals.
    input_dim: input channels d.
    seed: seeds the inputs and the split.
    input_kind:
        ``"white"``: ``x_k = dt * xi_k``, ``xi_k ~ N(0, I_d)`` i.i.d. (official code).
        ``"gaussian_process"``: the official ``Gaussian_input`` mode, the running sum
        ``x_k = dt * sum_{j<=k} xi_j`` -- a Gaussian random walk with
        ``Var x_k = (k + 1) dt^2`` (no other rescaling).
    split: fractions of (train, val, test), positive, summing to 1. Sizes are the
        floors of ``fraction * n`` with the remainder given by largest fractional part;
        every split gets at least one sequence.
    dtype: floating dtype of the returned tensors. Inputs are drawn in float64,
        cast to ``dtype``, and the target is applied to the cast inputs.
    device: where the target is evaluated (default: the device of a torch module's
        parameters, else the CPU). Inputs are always drawn on the CPU, so the data do
        not depend on the device.

    Returns
    -------
    SequenceDataset with tensors on the CPU.
    """
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    dt = check_positive_float("dt", dt)
    input_dim = check_positive_int("input_dim", input_dim)
    seed = check_nonnegative_int("seed", seed)
    input_kind = check_choice("input_kind", input_kind, INPUT_KINDS)
    sizes = _split_sizes(n, split)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if isinstance(target, str):
        target = LinearFunctional.named(target, input_dim=input_dim)
    _check_target(target, input_dim)
    device = _target_device(target) if device is None else torch.device(device)

    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, length, input_dim, generator=generator, dtype=torch.float64)
    inputs = dt * noise  # official code: x = dt * N(0, 1)
    if input_kind == "gaussian_process":
        inputs = inputs.cumsum(dim=1)
    inputs = inputs.to(dtype)
    outputs = apply_target(target, inputs.to(device), dt).to(dtype)

    order = torch.randperm(n, generator=generator)
    parts = [(inputs[idx], outputs[idx]) for idx in torch.split(order, sizes)]
    return SequenceDataset(
        train=parts[0],
        val=parts[1],
        test=parts[2],
        dt=dt,
        target_name=_target_name(target),
        input_kind=input_kind,
        seed=seed,
    )


def _split_sizes(n: int, split: Sequence[float]) -> list[int]:
    """Split ``n`` by the fractions ``split`` (largest remainder), each part >= 1."""
    try:
        fractions = [float(f) for f in split]
    except (TypeError, ValueError):
        raise TypeError(f"split must be a sequence of 3 numbers, got {split!r}") from None
    if len(fractions) != len(SPLIT_NAMES):
        raise ValueError(f"split must give 3 fractions (train, val, test), got {split!r}")
    if not all(math.isfinite(f) and f > 0 for f in fractions):
        raise ValueError(f"split fractions must be positive and finite, got {split!r}")
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {split!r} (sum {sum(fractions)})")
    if n < len(fractions):
        raise ValueError(f"n must be at least {len(fractions)} (one sequence per split), got {n}")
    sizes = [math.floor(f * n) for f in fractions]
    by_remainder = sorted(range(len(sizes)), key=lambda i: fractions[i] * n - sizes[i])
    for i in reversed(by_remainder[len(sizes) - (n - sum(sizes)) :]):
        sizes[i] += 1
    for i in range(len(sizes)):
        if sizes[i] == 0:  # n >= 3 guarantees a donor with at least 2
            sizes[max(range(len(sizes)), key=sizes.__getitem__)] -= 1
            sizes[i] = 1
    return sizes


def _check_target(target: Any, input_dim: int) -> None:
    if not callable(target):
        raise TypeError(
            "target must be a LinearFunctional, a memory name, a torch module or a callable, "
            f"got {type(target).__name__}"
        )
    target_dim = getattr(target, "input_dim", None)
    if target_dim is not None and target_dim != input_dim:
        raise ValueError(f"target expects input_dim={target_dim}, but input_dim={input_dim}")


def _target_device(target: Any) -> torch.device:
    if isinstance(target, torch.nn.Module):
        for tensor in target.parameters():
            return tensor.device
    return torch.device("cpu")


def apply_target(target: Any, inputs: torch.Tensor, dt: float) -> torch.Tensor:
    """Outputs ``(n, T, d_out)`` of ``target`` on ``inputs`` ``(n, T, d)``, detached on CPU.

    A :class:`LinearFunctional` is called as ``target(inputs, dt)``, any other callable as
    ``target(inputs)`` (a tuple output means its first item); the outputs are checked for
    shape and finiteness.
    """
    with torch.no_grad():
        out = target(inputs, dt) if isinstance(target, LinearFunctional) else target(inputs)
    out = primary_output(out, "target")
    if out.dim() != 3 or out.shape[:2] != inputs.shape[:2]:
        raise ValueError(
            f"target must map (n, T, d) = {tuple(inputs.shape)} to (n, T, d_out), "
            f"got {tuple(out.shape)}"
        )
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"target {_target_name(target)!r} produced NaN or infinite outputs")
    return out.detach().cpu()


def _target_name(target: Any) -> str:
    name = getattr(target, "name", None) or getattr(target, "__name__", None)
    return str(name or type(target).__name__)
