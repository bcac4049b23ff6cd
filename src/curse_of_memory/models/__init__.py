"""RNN hypothesis spaces: continuous-time RNN with stable reparameterizations, GRU, LSTM.

- :class:`ContinuousRNN`: ``dh/dt = sigma(W h + U x + b)``, ``y = c^T h`` (paper eq 3),
  forward Euler, W diagonal / symmetric / dense, eigenvalues ``lambda = f(w)`` from
  :data:`PARAMETRIZATIONS` (paper eq 18).
- :class:`ContinuousGRU`, :class:`ContinuousLSTM`: continuous forms (paper Appendix J),
  equal to ``torch.nn.GRU`` / ``torch.nn.LSTM`` at ``dt = 1``.
- :class:`S4DModel`: stacked diagonal linear state-space layers (:class:`DiagonalSSM`,
  S4D-style) with a nonlinearity between layers.
- :func:`build_model`: rebuild any of them from ``model.config()``.
"""

from curse_of_memory.models.gated import ContinuousGRU, ContinuousLSTM
from curse_of_memory.models.parametrizations import (
    PARAMETRIZATIONS,
    STABLE_PARAMETRIZATIONS,
    make_parametrization,
)
from curse_of_memory.models.registry import MODELS, build_model
from curse_of_memory.models.rnn import STRUCTURES, ContinuousRNN
from curse_of_memory.models.s4d import DiagonalSSM, S4DModel

__all__ = [
    "MODELS",
    "PARAMETRIZATIONS",
    "STABLE_PARAMETRIZATIONS",
    "STRUCTURES",
    "ContinuousGRU",
    "ContinuousLSTM",
    "ContinuousRNN",
    "DiagonalSSM",
    "S4DModel",
    "build_model",
    "make_parametrization",
]
