"""Training settings and the named presets of the paper and of the official code."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from curse_of_memory._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
)

OPTIMIZERS = ("adam", "adamw")
LOSS_NAMES = ("mse", "time_weighted_mse")
SCHEDULERS = ("none", "plateau")

# ReduceLROnPlateau settings of the official code, used by scheduler="plateau".
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 10


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run apart from the model, data and seed.

    ``grad_clip = 0``, ``scheduler = "none"`` and ``stop_at_val_loss = 0`` switch the
    corresponding feature off.
    """

    epochs: int = 100
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    weight_decay: float = 0.0
    loss: str = "mse"
    grad_clip: float = 0.0  # max global gradient 2-norm; 0 = no clipping
    scheduler: str = "none"
    stop_at_val_loss: float = 0.0  # stop once val loss <= this; 0 = never
    stability_penalty: float = 0.0  # coefficient of relu(1 - stability_margin)
    keep_best: bool = False  # end with the weights of the lowest validation loss

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_float("lr", self.lr)
        check_positive_int("batch_size", self.batch_size)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss", self.loss, LOSS_NAMES)
        check_choice("scheduler", self.scheduler, SCHEDULERS)
        for name in ("weight_decay", "grad_clip", "stop_at_val_loss", "stability_penalty"):
            _check_nonnegative_float(name, getattr(self, name))
        if not isinstance(self.keep_best, bool):
            raise TypeError(f"keep_best must be True or False, got {self.keep_best!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of the settings (for checkpoints and reports)."""
        return dataclasses.asdict(self)


# "paper": paper Appendix D; "official": the official code's configs/experiment/LF
# (github.com/radarFudan/Curse-of-memory).
TRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "optimizer": "adam",
        "lr": 0.005,
        "batch_size": 128,
        "loss": "mse",
        "epochs": 1000,
        "stop_at_val_loss": 1e-8,
    },
    "official": {
        "optimizer": "adamw",
        "lr": 0.01,
        "weight_decay": 0.0,
        "scheduler": "plateau",
        "grad_clip": 0.5,
        "loss": "time_weighted_mse",
        "batch_size": 512,
        "epochs": 1000,
        "stability_penalty": 0.01,
    },
}


def resolve_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """Settings of ``preset`` (or the ``TrainConfig`` defaults) with ``overrides`` applied.

    An override of ``None`` means "not given": the preset's value is kept. To switch
    a preset's feature off pass ``grad_clip=0``, ``scheduler="none"`` or
    ``stop_at_val_loss=0``.
    """
    settings: dict[str, Any] = {}
    if preset is not None:
        settings.update(TRAINING_PRESETS[check_choice("preset", preset, TRAINING_PRESETS)])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, value in overrides.items():
        if name not in fields:
            raise TypeError(
                f"unknown training setting {name!r}; valid: {', '.join(sorted(fields))}"
            )
        if value is not None:
            settings[name] = value
    return TrainConfig(**settings)


def _check_nonnegative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
