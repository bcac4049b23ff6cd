"""The RNN recurrence itself, with interchangeable backends.

Every backend computes h_{k+1} = h_k + dt sigma(W h_k + drive_k), h_0 = 0 (paper eq 3,
forward Euler); they differ only in speed:

``"numba"``      compiled CPU loops with a hand-written backward (float32/float64);
``"scan"``       chunked parallel scan, for ``activation="linear"`` with diagonal W;
``"triton"``     fused GPU kernels (CUDA tensors, needs the ``triton`` package);
``"reference"``  the plain torch loop of :mod:`.reference` (ground truth, any
                 device, dtype and transform).

``backend="auto"`` runs the first of these (in this order, the order of
:data:`BACKENDS`) that is available and accepts the call; :func:`explain_backend`
says why the others do not. Under ``torch.vmap`` (a batch of perturbed or seeded
models) numba and triton fold the vmapped dimension into one kernel call; under
``jvp``, forward-mode AD or ``torch.func.grad`` auto uses the reference loop.

Entry points: :func:`euler_recurrence` (a given drive), :func:`euler_recurrence_batched_models`
(K models with a leading model axis) and :func:`euler_rnn_layer` (input map,
recurrence and readout, fused on CPU: what ``ContinuousRNN.forward`` calls).
"""

from __future__ import annotations

from curse_of_memory.kernels._checks import BACKEND_CHOICES
from curse_of_memory.kernels.activations import ACTIVATIONS, activation_fn
from curse_of_memory.kernels.backends import BACKENDS
from curse_of_memory.kernels.dispatch import available_backends, explain_backend
from curse_of_memory.kernels.layer import euler_rnn_layer
from curse_of_memory.kernels.recurrence import euler_recurrence, euler_recurrence_batched_models

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "BACKEND_CHOICES",
    "activation_fn",
    "available_backends",
    "euler_recurrence",
    "euler_recurrence_batched_models",
    "euler_rnn_layer",
    "explain_backend",
]
