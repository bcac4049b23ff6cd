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
def record_calls(monkeypatch):
    """``record(module, name, summary)`` wraps ``module.name`` for the test; every call
    appends ``summary(*args)`` to the returned list, then runs the original."""

    def record(module, name: str, summary) -> list:
        calls = []
        original = getattr(module, name)

        def recording(*args, **kwargs):
            calls.append(summary(*args))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
        return calls

    return record


@pytest.fixture
def fused_layer_calls(record_calls) -> list[int]:
    """Model-axis sizes K of every fused numba layer call the test makes (in order)."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_layer

    return record_calls(_numba_layer, "layer_forward", lambda x, input_t, *rest: input_t.shape[0])
