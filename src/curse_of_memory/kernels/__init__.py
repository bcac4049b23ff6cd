"""The RNN recurrence itself, with interchangeable backends.

``euler_recurrence`` runs the recurrence on a given drive;
``euler_recurrence_batched_models`` runs K models (a leading model axis) at once;
:func:`curse_of_memory.kernels.layer.euler_rnn_layer` runs a whole layer (input map,
recurrence, readout; fused into one compiled CPU loop with numba) and is what
``ContinuousRNN.forward`` calls.

Backends (all compute h_{k+1} = h_k + dt sigma(W h_k + drive_k), h_0 = 0, SPEC eq 3):

``"reference"``  the plain torch loop of :mod:`.reference` (ground truth, any device/dtype);
``"numba"``      compiled CPU loops with a hand-written BPTT backward (float32/float64);
``"scan"``       chunked parallel scan, only for ``activation="linear"`` with diagonal W;
``"triton"``     fused GPU kernels (CUDA tensors, needs the ``triton`` package);
``"auto"``       numba for CPU tensors; on CUDA the scan for linear diagonal recurrences
                 with ``|1 + dt lambda| <= 1``, else triton; the reference otherwise.

On CPU the compiled sequential loop does O(T) work with no per-step overhead and
was measured faster than the scan for every size tried (see BENCHMARKS.md), so
``auto`` prefers numba there and uses the scan when numba is missing.

Under ``torch.vmap`` (a batch of perturbed or independently seeded models) the fused
kernels fold the vmapped dimension into their model axis, so the whole batch is one
kernel call; under ``jvp``, forward-mode AD or ``torch.func.grad`` ``auto`` uses the
reference loop (the fused kernels have no rules for those).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from types import ModuleType

import torch
import torch.autograd.forward_ad as fwAD

from curse_of_memory._validation import check_choice, check_positive_float
from curse_of_memory.kernels.activations import ACTIVATIONS, activation_fn
from curse_of_memory.kernels.reference import (
    euler_recurrence_reference,
    euler_recurrence_reference_models,
)
from curse_of_memory.kernels.scan import scan_euler_recurrence, scan_is_stable

BACKENDS = ("auto", "reference", "numba", "scan", "triton")
_FUSED_DTYPES = (torch.float32, torch.float64)


@functools.cache
def _numba_installed() -> bool:
    """True when numba imports; otherwise warn once that the CPU path is the slow loop.

    numba is a core dependency, but a platform without a numba build (or a numba that
    fails to load beside this numpy) should still run, on the reference loop.
    """
    try:
        import numba  # noqa: F401
    except ModuleNotFoundError:
        reason = "the numba package is not installed"
    except Exception as error:  # any import-time failure of a compiled extension
        reason = f"numba failed to load ({type(error).__name__}: {error})"
    else:
        return True
    warnings.warn(
        f"curse-of-memory: {reason}; CPU recurrences use the slower reference loop "
        "(pip install numba to enable the compiled kernels)",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def available_backends() -> tuple[str, ...]:
    """Backends usable in this environment (``"triton"`` also needs a CUDA device)."""
    names = ["auto", "reference", "scan"]
    if _numba_installed():
        names.append("numba")
    if _triton_installed() and torch.cuda.is_available():
        names.append("triton")
    return tuple(names)


def _is_transformed(*tensors: torch.Tensor) -> bool:
    """True for tensors under a functorch transform (``vmap``, ``jvp``, ``grad``: e.g. a
    batch of perturbed models) or carrying a forward-mode tangent (``forward_ad``, used by
    the memory function's linear response). Data-dependent checks cannot run on them."""
    return any(
        torch._C._functorch.is_functorch_wrapped_tensor(t)
        or fwAD.unpack_dual(t).tangent is not None
        for t in tensors
    )


def _only_vmapped(*tensors: torch.Tensor) -> bool:
    """True if every transformed tensor is a ``vmap`` batch (no tangent, no grad wrapper).

    The fused kernels have a vmap rule (the vmapped dimension becomes their model axis)
    but no rule for ``jvp``/forward-mode AD/``grad``.
    """
    return all(
        fwAD.unpack_dual(t).tangent is None
        and (
            not torch._C._functorch.is_functorch_wrapped_tensor(t)
            or torch._C._functorch.is_batchedtensor(t)
        )
        for t in tensors
    )


def first_non_finite(named: dict[str, torch.Tensor]) -> str | None:
    """Name of the first tensor with a NaN/inf entry, or None.

    One reduction over the sums of all tensors proves the common all-finite case with
    a few cheap ops; only when that total is not finite (a bad entry, or a sum that
    merely overflows) is each tensor inspected.
    """
    if not named:
        return None
    with torch.no_grad():
        sums = torch.stack([tensor.sum() for tensor in named.values()])
        if bool(torch.isfinite(sums.sum())):
            return None
        for name, tensor in named.items():
            if not bool(torch.isfinite(tensor).all()):
                return name
    return None


def _check_inputs(
    drive: object, recurrent: object, model_axis: bool, check_finite: bool = True
) -> bool:
    """Validate shapes/dtypes/devices (and finiteness); return True for a diagonal W."""
    lead = "(K, batch, T, m)" if model_axis else "(batch, T, m)"
    ndim = 4 if model_axis else 3
    if not isinstance(drive, torch.Tensor):
        raise TypeError(f"drive must be a torch.Tensor {lead}, got {type(drive).__name__}")
    if not isinstance(recurrent, torch.Tensor):
        raise TypeError(f"recurrent must be a torch.Tensor, got {type(recurrent).__name__}")
    if drive.dim() != ndim:
        raise ValueError(f"drive must have shape {lead}, got {tuple(drive.shape)}")
    if not drive.is_floating_point():
        raise TypeError(f"drive must be a floating-point tensor, got dtype {drive.dtype}")
    m = drive.shape[-1]
    models = (drive.shape[0],) if model_axis else ()
    diagonal_shape, dense_shape = (*models, m), (*models, m, m)
    if tuple(recurrent.shape) not in (diagonal_shape, dense_shape):
        raise ValueError(
            f"recurrent must have shape {diagonal_shape} (diagonal W) or {dense_shape} "
            f"(dense W) to match drive {tuple(drive.shape)}, got {tuple(recurrent.shape)}"
        )
    if recurrent.dtype != drive.dtype or recurrent.device != drive.device:
        raise TypeError(
            f"recurrent ({recurrent.dtype}, {recurrent.device}) must have the dtype and "
            f"device of drive ({drive.dtype}, {drive.device})"
        )
    if check_finite and not _is_transformed(drive, recurrent):
        bad = first_non_finite({"recurrent": recurrent, "drive": drive})
        if bad is not None:
            raise ValueError(f"{bad} contains NaN or infinite values")
    return tuple(recurrent.shape) == diagonal_shape


def _resolve_backend(
    backend: str, drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> str:
    """Turn ``"auto"`` into a concrete backend; check that a forced one can run."""
    diagonal = recurrent.dim() == drive.dim() - 2
    linear_diagonal = activation == "linear" and diagonal
    fused_dtype = drive.dtype in _FUSED_DTYPES
    if backend == "auto":
        transformed = _is_transformed(drive, recurrent)
        if transformed and not _only_vmapped(drive, recurrent):
            return "reference"  # jvp / forward-mode AD / grad: no rule in the fused kernels
        if drive.device.type == "cpu" and fused_dtype and _numba_installed():
            return "numba"  # under vmap too: the batch of models becomes the model axis
        if transformed:  # the scan's stability check reads values: not under vmap
            return (
                "triton" if drive.is_cuda and fused_dtype and _triton_installed() else "reference"
            )
        if linear_diagonal and scan_is_stable(recurrent, dt):
            return "scan"
        if drive.is_cuda and fused_dtype and _triton_installed():
            return "triton"
        return "reference"
    if backend == "numba":
        if not _numba_installed():
            raise RuntimeError("backend 'numba' is unavailable: the numba package is missing")
        if drive.device.type != "cpu" or not fused_dtype:
            raise ValueError(
                "backend 'numba' needs float32/float64 CPU tensors, got "
                f"{drive.dtype} on {drive.device}"
            )
    if backend == "triton":
        if not _triton_installed() or not torch.cuda.is_available():
            raise RuntimeError(
                "backend 'triton' is unavailable: it needs the triton package and a CUDA device"
            )
        if not drive.is_cuda or not fused_dtype:
            raise ValueError(
                f"backend 'triton' needs float32/float64 CUDA tensors, got {drive.dtype} "
                f"on {drive.device}"
            )
    if backend == "scan" and not linear_diagonal:
        raise ValueError(
            "backend 'scan' needs activation='linear' and a diagonal recurrent (m,) / (K, m); "
            f"got activation={activation!r} and recurrent of shape {tuple(recurrent.shape)}"
        )
    return backend


def _engine(name: str) -> ModuleType:
    """Import a fused engine lazily (numba / triton are slow to import)."""
    if name == "numba":
        from curse_of_memory.kernels import _numba_cpu

        return _numba_cpu
    from curse_of_memory.kernels import _triton_gpu

    return _triton_gpu


def _run_models(
    backend: str, drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str
) -> torch.Tensor:
    """Run a resolved backend on ``(K, B, T, m)`` inputs."""
    if backend == "reference":
        return euler_recurrence_reference_models(drive, recurrent, dt, activation)
    if backend == "scan":
        return scan_euler_recurrence(drive, recurrent, dt)
    from curse_of_memory.kernels._fused import fused_euler_recurrence

    return fused_euler_recurrence(drive, recurrent, dt, activation, _engine(backend))


def _validated_backend(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str,
    backend: str,
    model_axis: bool,
    check_finite: bool = True,
) -> tuple[float, str]:
    """Check every argument (before any work) and return ``(dt, concrete backend)``."""
    check_choice("backend", backend, BACKENDS)
    check_choice("activation", activation, ACTIVATIONS)
    dt = check_positive_float("dt", dt)
    _check_inputs(drive, recurrent, model_axis=model_axis, check_finite=check_finite)
    return dt, _resolve_backend(backend, drive, recurrent, dt, activation)


def euler_recurrence(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Hidden states of ``h_{k+1} = h_k + dt sigma(W h_k + drive_k)``, ``h_0 = 0`` (SPEC eq 3).

    Parameters
    ----------
    drive: ``(batch, T, m)``, the input drive ``U x_k + b``.
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    dt: Euler step (> 0).
    activation: one of ``ACTIVATIONS``.
    backend: one of ``BACKENDS`` (see the module docstring).

    Returns ``(batch, T, m)``: h_1..h_T, differentiable w.r.t. ``drive`` and ``recurrent``.
    """
    dt, resolved = _validated_backend(drive, recurrent, dt, activation, backend, False)
    if resolved == "reference":
        return euler_recurrence_reference(drive, recurrent, dt, activation)
    return _run_models(resolved, drive[None], recurrent[None], dt, activation).squeeze(0)


def euler_recurrence_batched_models(
    drive: torch.Tensor,
    recurrent: torch.Tensor,
    dt: float,
    activation: str = "tanh",
    backend: str = "auto",
) -> torch.Tensor:
    """Run K Euler recurrences with distinct recurrent weights in one call.

    Used for stacks of perturbed models (perturbation curves) or ensembles.

    Parameters
    ----------
    drive: ``(K, batch, T, m)``; model k sees ``drive[k]``.
    recurrent: ``(K, m)`` diagonals of W_k, or ``(K, m, m)`` dense W_k.
    dt, activation, backend: as in :func:`euler_recurrence`.

    Returns ``(K, batch, T, m)``: h_1..h_T of every model, differentiable.
    """
    dt, resolved = _validated_backend(drive, recurrent, dt, activation, backend, True)
    return _run_models(resolved, drive, recurrent, dt, activation)


__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "activation_fn",
    "available_backends",
    "euler_recurrence",
    "euler_recurrence_batched_models",
]
