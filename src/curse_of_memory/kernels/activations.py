"""Activation functions allowed in the recurrence (all with sigma(0) = 0).

Paper eqs 14-15: ``linear`` and ``hardtanh`` are in the locally linear class A_0,
``tanh`` is in the locally-tanh class A_1; ``relu`` is in neither (Fig 7).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda z: z,
    "tanh": torch.tanh,
    "hardtanh": torch.nn.functional.hardtanh,
    "relu": torch.relu,
}

# Integer codes of the activations inside the compiled kernels (numba and Triton).
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "hardtanh": 2, "relu": 3}


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the activation called ``name``; raise listing the valid names otherwise."""
    from curse_of_memory._validation import check_choice

    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]
