"""Sequence classifier: a continuous-time RNN, mean-pooled over time, with a linear head.

``logits = mean_k (C h_{k+1} + d)`` for the hidden states ``h_1..h_T`` of a
:class:`~curse_of_memory.models.rnn.ContinuousRNN` (paper eq 3, forward Euler), whose
recurrent eigenvalues are reparameterised by ``parametrization`` (paper eq 18). Since
the head is linear, this equals ``C mean_k(h_{k+1}) + d``: a linear head on the
time-averaged hidden state (the paper's sequential-MNIST set-up: width 64, one layer,
mean pooling, linear decoder), computed by the RNN's fused readout.

Identical initial weights across parametrizations: the RNN draws its initial
eigenvalues (and U, b, C, d, Q) from torch's global generator and sets each map's raw
weights so that ``f(w)`` equals them. Seeding the generator identically therefore
gives models that compute the same function at initialisation, whatever the
parametrization; only the raw coordinates that training moves in differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from curse_of_memory._validation import check_positive_int
from curse_of_memory.models.rnn import ContinuousRNN


class SequenceClassifier(nn.Module):
    """``(batch, T, input_size) -> (batch, n_classes)`` logits.

    Parameters
    ----------
    n_classes: number of classes (>= 2).
    hidden_size: width m of the RNN.
    input_size: features per time step.
    parametrization, structure, activation, dt, init_decay_range: passed to
        :class:`~curse_of_memory.models.rnn.ContinuousRNN` (``bias=True``,
        ``readout_bias=True``).
    """

    def __init__(
        self,
        n_classes: int,
        hidden_size: int = 64,
        input_size: int = 1,
        parametrization: str = "softplus",
        structure: str = "symmetric",
        activation: str = "tanh",
        dt: float = 1.0,
        init_decay_range: Sequence[float] = (0.01, 1.0),
    ) -> None:
        super().__init__()
        self.n_classes = check_positive_int("n_classes", n_classes)
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.rnn = ContinuousRNN(
            hidden_size,
            input_size=input_size,
            output_size=self.n_classes,
            activation=activation,
            parametrization=parametrization,
            structure=structure,
            dt=dt,
            bias=True,
            readout_bias=True,
            init_decay_range=init_decay_range,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` for ``x`` of shape ``(batch, T, input_size)``."""
        return self.rnn(x).mean(dim=1)  # mean over time of C h_{k+1} + d

    def stability_margin(self) -> float:
        """``-max Re eig(W)`` of the RNN: positive when its continuous-time dynamics are stable."""
        return self.rnn.stability_margin()

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-friendly dict."""
        rnn = self.rnn.config()
        return {
            "model": "SequenceClassifier",
            "n_classes": self.n_classes,
            "hidden_size": rnn["hidden_size"],
            "input_size": rnn["input_size"],
            "parametrization": rnn["parametrization"],
            "structure": rnn["structure"],
            "activation": rnn["activation"],
            "dt": rnn["dt"],
            "init_decay_range": rnn["init_decay_range"],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SequenceClassifier:
        """A freshly initialised model from ``config()`` output."""
        if config.get("model", "SequenceClassifier") != "SequenceClassifier":
            raise ValueError(f"config is for model {config['model']!r}, not 'SequenceClassifier'")
        return cls(**{key: value for key, value in config.items() if key != "model"})
