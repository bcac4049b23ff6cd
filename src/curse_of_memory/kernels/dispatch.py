"""Which backend runs a call: ``"auto"`` picks, a named backend is checked.

``"auto"`` runs the first backend of :data:`~curse_of_memory.kernels.backends.BACKENDS`
(in its order of preference) that is available here and accepts the call;
:func:`explain_backend` shows each backend's answer.
"""

from __future__ import annotations

import torch

from curse_of_memory.kernels._checks import check_recurrence
from curse_of_memory.kernels.backends import BACKENDS, Backend, Call


def available_backends() -> tuple[str, ...]:
    """Backend names usable in this environment, ``"auto"`` first.

    ``"numba"`` needs numba to load; ``"triton"`` needs the triton package and a CUDA
    device.
    """
    return ("auto", *(name for name, backend in BACKENDS.items() if backend.unavailable() is None))


def _refusal(backend: Backend, call: Call, automatic: bool) -> str | None:
    return backend.unavailable() or backend.refusal(call, automatic)


def choose_backend(requested: str, call: Call) -> Backend:
    """The backend that runs ``call``: auto's choice, or ``requested`` if it can run it.

    Raises ``RuntimeError`` for a named backend that is unavailable here and
    ``ValueError`` for one that refuses the call; both messages give the reason.
    """
    if requested == "auto":
        for backend in BACKENDS.values():
            if _refusal(backend, call, automatic=True) is None:
                return backend
        raise AssertionError("the reference backend accepts every call")  # pragma: no cover
    backend = BACKENDS[requested]
    reason = backend.unavailable()
    if reason is not None:
        raise RuntimeError(f"backend {requested!r} is unavailable: {reason}")
    reason = backend.refusal(call, automatic=False)
    if reason is not None:
        raise ValueError(f"backend {requested!r} cannot run this call: it {reason}")
    return backend


def explain_backend(
    drive: torch.Tensor, recurrent: torch.Tensor, dt: float, activation: str = "tanh"
) -> dict[str, str | None]:
    """Each backend's answer for a recurrence call, in ``"auto"``'s order of preference.

    Parameters
    ----------
    drive: ``(batch, T, m)``, or ``(K, batch, T, m)`` with ``recurrent`` ``(K, m)`` /
        ``(K, m, m)`` (as for ``euler_recurrence_batched_models``).
    recurrent: ``(m,)`` diagonal of W, or ``(m, m)`` dense W.
    dt, activation: as in :func:`curse_of_memory.kernels.euler_recurrence`.

    Returns
    -------
    ``{name: None}`` for a backend that would run the call, ``{name: reason}`` for one
    that would not; ``"auto"`` runs the first with ``None``. A layer
    (``euler_rnn_layer``, ``ContinuousRNN``) is dispatched the same way, with ``x`` in
    place of the drive.
    """
    model_axis = isinstance(drive, torch.Tensor) and drive.dim() == 4
    call = check_recurrence(drive, recurrent, dt, activation, "auto", model_axis)
    return {name: _refusal(backend, call, automatic=True) for name, backend in BACKENDS.items()}
