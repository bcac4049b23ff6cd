"""Tiny Triton kernels that run the Triton jit helpers alone (imported by tests only
after ``pytest.importorskip("triton")``; Triton resolves names in module globals)."""

import triton
import triton.language as tl

from curse_of_memory.kernels._triton_kernels import _sequence_start


@triton.jit
def sequence_starts(out_ptr, first, length, m):
    """``out[i] = _sequence_start(first + i, length, m)`` for program i."""
    sequence = tl.program_id(0) + first
    tl.store(out_ptr + tl.program_id(0), _sequence_start(sequence, length, m))
