"""Rebuild any model of this package from its ``config()`` dict."""

from __future__ import annotations

from typing import Any

from torch import nn

from curse_of_memory._validation import check_choice
from curse_of_memory.models.gated import ContinuousGRU, ContinuousLSTM
from curse_of_memory.models.rnn import ContinuousRNN
from curse_of_memory.models.s4d import S4DModel

MODELS: dict[str, type[nn.Module]] = {
    "ContinuousRNN": ContinuousRNN,
    "ContinuousGRU": ContinuousGRU,
    "ContinuousLSTM": ContinuousLSTM,
    "S4DModel": S4DModel,
}


def build_model(config: dict[str, Any]) -> nn.Module:
    """Build a freshly initialised model from ``model.config()`` output.

    Parameters
    ----------
    config: dict with key ``"model"`` (one of ``MODELS``) and the constructor arguments.
        Load saved weights afterwards with ``model.load_state_dict(...)``.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    if "model" not in config:
        raise ValueError(f"config needs a 'model' key naming one of: {', '.join(sorted(MODELS))}")
    name = check_choice("config['model']", config["model"], MODELS)
    return MODELS[name].from_config(config)
