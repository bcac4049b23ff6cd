"""Arrays for the compiled kernels: outputs (large ones on transparent huge pages) and
numpy views of torch inputs.

A fresh multi-megabyte tensor is page-faulted in 4 KiB at a time on its first write,
which can cost more than the kernel that fills it (BENCHMARKS.md, linear recurrence).
Outputs of at least :data:`HUGE_PAGE_THRESHOLD_BYTES` are therefore mapped with
``madvise(MADV_HUGEPAGE)`` (2 MiB pages); on other systems, and for smaller outputs,
plain ``torch.empty`` is used. The memory is returned when the tensor is freed (the
mapping is owned by the numpy array that the tensor shares memory with).
"""

from __future__ import annotations

import math
import mmap

import numpy as np
import torch

HUGE_PAGE_THRESHOLD_BYTES = 8 << 20
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _huge_pages_available() -> bool:
    return hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")


def empty_output(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Uninitialised contiguous CPU tensor of ``shape``/``dtype`` (float32 or float64)."""
    count = math.prod(shape)
    numpy_dtype = _NUMPY_DTYPES.get(dtype)
    nbytes = count * np.dtype(numpy_dtype).itemsize if numpy_dtype is not None else 0
    if nbytes < HUGE_PAGE_THRESHOLD_BYTES or not _huge_pages_available():
        return torch.empty(shape, dtype=dtype)
    mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        mapping.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # e.g. THP disabled in this kernel: ordinary pages still work
        pass
    array = np.frombuffer(mapping, dtype=numpy_dtype, count=count).reshape(shape)
    return torch.from_numpy(array)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Zero-copy numpy view of a detached, contiguous CPU tensor (copies if not contiguous)."""
    return tensor.detach().contiguous().numpy()
