"""Benchmark cases for batches of models (issue 5, goals 2 and 3), used by ``run.py``.

* ``models``: one training step of 16 tanh RNNs (different seeds) run as one call of
  :func:`curse_of_memory.kernels.euler_recurrence_batched_models` (model axis K = 16),
  against 16 ``torch.nn.RNN`` training steps one after another.
* ``perturb``: :func:`curse_of_memory.analysis.perturbation_error` on 36 perturbed copies
  of a ContinuousRNN (3 betas x 12 samples), evaluated as one vmapped batch against
  one copy at a time (``vectorize=False``) and against the vmapped batch forced onto
  the torch reference loop (``backend="reference"``).

Each yields ``(group, variant, make_step)`` like the cases in ``run.py``; the first
variant of a group is its baseline (``ONE_AFTER_ANOTHER`` / ``ONE_COPY_AT_A_TIME``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from curse_of_memory.analysis import mse_loss, perturbation_error
from curse_of_memory.kernels import euler_recurrence_batched_models
from curse_of_memory.models import ContinuousRNN

N_MODELS = 16
ONE_AFTER_ANOTHER = f"{N_MODELS} x torch.nn.RNN steps, one after another"
ONE_COPY_AT_A_TIME = "one copy at a time (vectorize=False)"
Case = tuple[str, str, Callable[[], Callable[[], None]]]


class _StackedRNNs(nn.Module):
    """K independent diagonal tanh RNNs (SPEC eq 3, Euler) with stacked parameters.

    ``forward(x)``: ``(B, T, 1) -> (K, B, T, 1)``; model k has input weights ``U_k``,
    eigenvalues ``-softplus(w_k)`` and readout ``c_k``.
    """

    def __init__(self, n_models: int, hidden_size: int, dt: float, backend: str) -> None:
        super().__init__()
        self.input_weight = nn.Parameter(torch.randn(n_models, hidden_size, 1))
        self.input_bias = nn.Parameter(torch.zeros(n_models, hidden_size))
        self.raw_eigenvalues = nn.Parameter(torch.randn(n_models, hidden_size))
        self.readout = nn.Parameter(torch.randn(n_models, 1, hidden_size) / hidden_size**0.5)
        self.dt, self.backend = dt, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drive = torch.einsum("btd,kmd->kbtm", x, self.input_weight)
        drive = drive + self.input_bias[:, None, None, :]
        eigenvalues = -F.softplus(self.raw_eigenvalues)
        states = euler_recurrence_batched_models(drive, eigenvalues, self.dt, "tanh", self.backend)
        return torch.einsum("kbtm,kpm->kbtp", states, self.readout)


def adam_step(parameters, loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
    """A step function: zero the gradients, backpropagate ``loss_fn()``, Adam (lr 1e-3)."""
    optimizer = torch.optim.Adam(parameters, lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        optimizer.step()

    return step


def model_batch_cases(device: torch.device, backends: list[str], rnn_factory) -> Iterator[Case]:
    """16 models trained in one call vs one after another (T = 100, batch 128)."""
    batch, length, dt = 128, 100, 0.1
    for m in (16, 64):
        group = f"{N_MODELS} models, train diagonal m={m} T={length} B={batch}"
        generator = torch.Generator().manual_seed(m)
        x = torch.randn(batch, length, 1, generator=generator).to(device)
        y = torch.randn(batch, length, 1, generator=generator).to(device)

        def sequential(m=m, x=x, y=y) -> Callable[[], None]:
            steps = []
            for _ in range(N_MODELS):
                model = rnn_factory(m).to(device)
                steps.append(
                    adam_step(model.parameters(), lambda model=model: F.mse_loss(model(x), y))
                )

            def all_steps() -> None:
                for step in steps:
                    step()

            return all_steps

        yield group, ONE_AFTER_ANOTHER, sequential
        for backend in backends:

            def stacked(m=m, x=x, y=y, backend=backend) -> Callable[[], None]:
                models = _StackedRNNs(N_MODELS, m, dt, backend).to(device)
                # sum over models of each model's own MSE: the gradients stay separate
                return adam_step(
                    models.parameters(),
                    lambda: ((models(x) - y) ** 2).mean(dim=(1, 2, 3)).sum(),
                )

            yield group, f"{N_MODELS} models in one call [{backend}]", stacked


def perturbation_cases(device: torch.device, quick: bool) -> Iterator[Case]:
    """E_m(beta) of a tanh ContinuousRNN: 36 perturbed copies (3 betas x 12 samples)."""
    batch = 1_280 if device.type == "cpu" or quick else 12_800
    length, betas, samples = 100, [0.0, 0.01, 0.1, 1.0], 12
    for m in (16, 64):
        group = f"perturbation curve, 36 copies, diagonal m={m} T={length} B={batch}"
        generator = torch.Generator().manual_seed(m)
        x = torch.randn(batch, length, 1, generator=generator).to(device)

        def make(m=m, x=x, vectorize=True, backend="auto") -> Callable[[], None]:
            torch.manual_seed(m)
            model = ContinuousRNN(m, structure="diagonal", backend=backend).to(device)
            with torch.no_grad():
                target = model(x)

            def curve() -> None:
                loss = mse_loss(x, target)
                perturbation_error(model, loss, betas, samples=samples, vectorize=vectorize)

            return curve

        yield group, ONE_COPY_AT_A_TIME, lambda make=make: make(vectorize=False)
        yield group, "vmapped batch, backend=reference", lambda make=make: make(backend="reference")
        yield group, "vmapped batch, backend=auto", make
