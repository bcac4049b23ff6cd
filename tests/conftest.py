"""Test-session setup shared by every test module."""

from __future__ import annotations

import os

import pytest
import torch

# Without a GPU, run the Triton kernels under Triton's CPU interpreter so CI still
# checks their logic (issue 5). Must be set before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def fused_layer_calls(monkeypatch) -> list[int]:
    """Model-axis sizes K of every fused numba layer call the test makes (in order)."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_layer

    sizes: list[int] = []
    original = _numba_layer.layer_forward

    def counting(x, input_t, *args):
        sizes.append(input_t.shape[0])
        return original(x, input_t, *args)

    monkeypatch.setattr(_numba_layer, "layer_forward", counting)
    return sizes
