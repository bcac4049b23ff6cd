"""Test-session setup shared by every test module."""

from __future__ import annotations

import os

import torch

# Without a GPU, run the Triton kernels under Triton's CPU interpreter so CI still
# checks their logic (issue 5). Must be set before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
