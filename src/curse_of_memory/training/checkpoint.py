"""Training checkpoints: everything needed to continue a run bit for bit.

A checkpoint is a ``dict`` of tensors and plain Python values (readable with
``torch.load(weights_only=True)``), written atomically (temporary file in the same
folder, flushed, then ``os.replace``) so a killed run or a full disk never leaves a
half-written file:

- ``format``: ``CHECKPOINT_FORMAT``;
- ``epoch``: number of completed epochs;
- ``config``: the ``TrainConfig`` as a dict plus ``seed``;
- ``model_state``, ``optimizer_state``, ``scheduler_state`` (or ``None``);
- ``torch_rng_state`` (global CPU generator), ``shuffle_rng_state`` (the generator
  that orders the mini-batches);
- ``history``: ``train_losses``, ``val_losses``, ``lrs`` per completed epoch;
- ``stopped_early``: whether the run already met its loss threshold.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from curse_of_memory.training.model_io import atomic_torch_save, read_torch_file

CHECKPOINT_FORMAT = "curse-of-memory/checkpoint-v1"


def capture_state(
    epoch: int,
    config: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_generator: torch.Generator,
    history: dict[str, list[float]],
    stopped_early: bool = False,
) -> dict[str, Any]:
    """An in-memory copy of the run's state after ``epoch`` completed epochs."""
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "config": dict(config),
        "model_state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizer_state": copy.deepcopy(optimizer.state_dict()),
        "scheduler_state": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        "torch_rng_state": torch.get_rng_state(),
        "shuffle_rng_state": shuffle_generator.get_state(),
        "history": {k: list(v) for k, v in history.items()},
        "stopped_early": bool(stopped_early),
    }


def restore_state(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    shuffle_generator: torch.Generator,
) -> None:
    """Put a captured (or loaded) state back into the live training objects."""
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint does not match the model's architecture: {err}") from None
    optimizer.load_state_dict(state["optimizer_state"])
    if scheduler is not None and state["scheduler_state"] is not None:
        scheduler.load_state_dict(state["scheduler_state"])
    torch.set_rng_state(state["torch_rng_state"])
    shuffle_generator.set_state(state["shuffle_rng_state"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write a captured state to ``path`` atomically; returns the path.

    The checkpoint's folder is created if missing (a run's working files; the
    command line checks ``--checkpoint`` before training instead).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_torch_save(state, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    state = read_torch_file(path, CHECKPOINT_FORMAT)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a {CHECKPOINT_FORMAT} training checkpoint")
    return state
