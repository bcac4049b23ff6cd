"""Training: the fit loop, its presets, losses, checkpoints and the model file format.

- :func:`train` -> :class:`TrainResult`: mini-batch training of any sequence module,
  with presets ``TRAINING_PRESETS`` ("paper": paper Appendix D; "official": the official code),
  atomic checkpoints, bit-identical resume, and clean stops on divergence.
- :func:`mse_loss`, :func:`time_weighted_mse` (official code), :func:`stability_penalty`.
- :func:`save_model` / :func:`load_model`: the safe ``curse-of-memory/model-v1`` format.
"""

from curse_of_memory.training.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    save_checkpoint,
)
from curse_of_memory.training.config import (
    LOSS_NAMES,
    OPTIMIZERS,
    SCHEDULERS,
    TRAINING_PRESETS,
    TrainConfig,
    resolve_config,
)
from curse_of_memory.training.loop import TrainResult, evaluate_loss, train
from curse_of_memory.training.losses import (
    LOSSES,
    mse_loss,
    stability_penalty,
    time_weighted_mse,
    time_weights,
)
from curse_of_memory.training.model_io import MODEL_FORMAT, load_model, save_model

__all__ = [
    "CHECKPOINT_FORMAT",
    "LOSSES",
    "LOSS_NAMES",
    "MODEL_FORMAT",
    "OPTIMIZERS",
    "SCHEDULERS",
    "TRAINING_PRESETS",
    "TrainConfig",
    "TrainResult",
    "evaluate_loss",
    "load_checkpoint",
    "load_model",
    "mse_loss",
    "resolve_config",
    "save_checkpoint",
    "save_model",
    "stability_penalty",
    "time_weighted_mse",
    "time_weights",
    "train",
]
