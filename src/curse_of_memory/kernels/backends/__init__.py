"""The backend registry: name -> module implementing :class:`~.base.Backend`.

``BACKENDS`` is in ``backend="auto"``'s order of preference: auto runs the first
backend that is available and accepts the call. To add a backend, write one module
with the four functions of :class:`~.base.Backend` and list it here.
"""

from __future__ import annotations

from curse_of_memory.kernels.backends import numba_cpu, reference, scan, triton_gpu
from curse_of_memory.kernels.backends.base import Backend, Call

BACKENDS: dict[str, Backend] = {
    "numba": numba_cpu,  # compiled CPU loops; measured faster than the scan on CPU
    "scan": scan,  # linear diagonal recurrences with |1 + dt lambda| <= 1
    "triton": triton_gpu,  # fused GPU kernels
    "reference": reference,  # the plain torch loop: runs everything
}

__all__ = ["BACKENDS", "Backend", "Call"]
