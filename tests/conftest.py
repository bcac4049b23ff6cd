"""Test-session setup shared by every test module."""

from __future__ import annotations

import os

import pytest

# Idle OpenMP threads sleep instead of spinning. The suite runs subprocesses and worker
# pools beside itself, and spinning threads left by one test slowed the next one up to
# fivefold on a busy 2-core machine (BENCHMARKS.md); on an idle one it makes no
# difference. Read once, when torch loads its OpenMP runtime, so set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

# Without a GPU, run the Triton kernels under Triton's CPU interpreter so the tests
# still check their logic. Must be set before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def record_calls(monkeypatch):
    """``record(module, name, summary, calls=None)`` wraps ``module.name`` for the test;
    every call appends ``summary(*args)`` to ``calls`` (a new list unless given, and
    returned), then runs the original."""

    def record(module, name: str, summary, calls: list | None = None) -> list:
        calls = [] if calls is None else calls
        original = getattr(module, name)

        def recording(*args, **kwargs):
            calls.append(summary(*args))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
        return calls

    return record


@pytest.fixture
def backend_calls(record_calls) -> list[str]:
    """``"<backend>.recurrence"`` / ``"<backend>.layer"`` for every computation the
    registry's backends run during the test, in order."""
    from curse_of_memory.kernels import BACKENDS

    calls: list[str] = []
    for name, backend in BACKENDS.items():
        for entry in ("recurrence", "layer"):
            record_calls(backend, entry, lambda *args, label=f"{name}.{entry}": label, calls)
    return calls


@pytest.fixture
def numba_kernel_calls(record_calls) -> list[dict]:
    """One summary per call of the compiled numba forward loop: ``models`` (the model
    axis K), ``rows`` (R of the layout), and the sizes of the ``states`` and
    ``derivative`` arrays it fills (0: not kept)."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_kernels

    def summary(x, input_t, bias, diagonal, *rest):
        states, derivative = rest[-2:]
        return {
            "models": diagonal.shape[0],
            "rows": x.shape[3],
            "states": states.size,
            "derivative": derivative.size,
        }

    return record_calls(_numba_kernels, "layer_forward", summary)


@pytest.fixture
def fused_layer_calls(record_calls) -> list[int]:
    """Model-axis sizes K of the compiled numba forward loops the test runs (in order)."""
    pytest.importorskip("numba")
    from curse_of_memory.kernels import _numba_kernels

    return record_calls(
        _numba_kernels, "layer_forward", lambda x, input_t, bias, diagonal, *rest: diagonal.shape[0]
    )
