"""The interface every backend module implements, and what it is asked about.

A backend is a module with four functions (see :class:`Backend`); the registry
:data:`curse_of_memory.kernels.backends.BACKENDS` lists them. Arguments reach a
backend already validated (shapes, dtypes, devices, ``dt``, the activation name,
finiteness); backends do not check them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from curse_of_memory.kernels._transforms import Transform

FUSED_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True, eq=False)  # eq=False: fields hold a tensor
class Call:
    """What a backend may look at to accept or refuse one recurrence or layer call.

    ``recurrent`` is the validated recurrent weight as passed (``(m,)`` / ``(K, m)``
    diagonal or ``(m, m)`` / ``(K, m, m)`` dense); its values may only be read when
    ``transform == "none"``.
    """

    device: torch.device
    dtype: torch.dtype
    activation: str
    dt: float
    diagonal: bool
    recurrent: torch.Tensor
    transform: Transform


def compiled_kernel_refusal(call: Call, device_type: str) -> str | None:
    """Why compiled kernels for ``device_type`` cannot run ``call`` (``None``: they can):
    they take float32/float64 tensors on that device and have a ``vmap`` rule only."""
    if call.device.type != device_type or call.dtype not in FUSED_DTYPES:
        kind = device_type.upper()
        return f"needs float32/float64 {kind} tensors, got {call.dtype} on {call.device}"
    if call.transform == "other":
        return "has no rule for jvp, forward-mode AD or torch.func.grad"
    return None


class Backend(Protocol):
    """A backend module: availability, acceptance, and the two computations.

    ``unavailable()``
        ``None`` when the backend can run in this environment, else why not.
    ``refusal(call, automatic)``
        ``None`` when it runs ``call``, else why not. With ``automatic`` (the choice
        of ``backend="auto"``) a backend may also decline calls it would run worse
        than the next one in the registry.
    ``recurrence(drive, recurrent, dt, activation)``
        h_1..h_T ``(K, B, T, m)`` of paper eq 3 (Euler) for ``drive`` ``(K, B, T, m)``
        and ``recurrent`` ``(K, m)`` (diagonal of W) or ``(K, m, m)``; differentiable.
    ``layer(x, input_weight, input_bias, recurrent, readout, readout_bias, dt, activation)``
        y ``(B, T, p)`` of one layer for x ``(B, T, d)``, U ``(m, d)``, b ``(m,)`` or
        ``None``, W ``(m,)`` / ``(m, m)``, C ``(p, m)``, d ``(p,)`` or ``None``
        (:func:`composed_layer` builds it from ``recurrence``).
    """

    def unavailable(self) -> str | None: ...

    def refusal(self, call: Call, automatic: bool) -> str | None: ...

    def recurrence(
        self, drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
    ) -> torch.Tensor: ...

    def layer(
        self,
        x: torch.Tensor,
        input_weight: torch.Tensor,
        input_bias: torch.Tensor | None,
        recurrent: torch.Tensor,
        readout: torch.Tensor,
        readout_bias: torch.Tensor | None,
        dt: float,
        activation: str,
    ) -> torch.Tensor: ...


Recurrence = Callable[[torch.Tensor, torch.Tensor, float, str], torch.Tensor]


def composed_layer(recurrence: Recurrence) -> Callable[..., torch.Tensor]:
    """``layer`` as ``linear -> recurrence -> linear`` (torch products around ``recurrence``)."""

    def layer(
        x: torch.Tensor,
        input_weight: torch.Tensor,
        input_bias: torch.Tensor | None,
        recurrent: torch.Tensor,
        readout: torch.Tensor,
        readout_bias: torch.Tensor | None,
        dt: float,
        activation: str,
    ) -> torch.Tensor:
        drive = F.linear(x, input_weight, input_bias)  # (B, T, m) = U x_k + b
        states = recurrence(drive.unsqueeze(0), recurrent.unsqueeze(0), dt, activation).squeeze(0)
        return F.linear(states, readout, readout_bias)  # (B, T, p) = C h_{k+1} + d

    return layer
