"""Saving and loading trained models in a safe, documented file format.

Format ``curse-of-memory/model-v1``: ``torch.save`` of a plain dict

    {"format": "curse-of-memory/model-v1",
     "config": model.config(),        # constructor arguments: str/int/float/bool/None/lists
     "dtype": "float64",              # dtype of the floating weights
     "state_dict": {name: tensor}}    # CPU tensors

It holds only tensors and plain Python values, so ``torch.load(weights_only=True)``
reads it without running any code from the file; the model is rebuilt with
``curse_of_memory.models.build_model(config)``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from curse_of_memory._atomic import atomic_write

MODEL_FORMAT = "curse-of-memory/model-v1"

_PLAIN_TYPES = (str, int, float, bool, type(None))


def save_model(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model`` to ``path`` in the ``MODEL_FORMAT`` (atomically); returns the path.

    The model must have a ``config()`` method returning its constructor arguments
    (as ``curse_of_memory.models.ContinuousRNN`` does) made of plain values.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(getattr(model, "config", None)):
        raise TypeError(
            f"save_model needs a model with a config() method; {type(model).__name__} has none "
            "(save its state_dict with torch.save instead)"
        )
    config = model.config()
    _check_plain("model.config()", config)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    floating = [v.dtype for v in state.values() if v.is_floating_point()]
    payload = {
        "format": MODEL_FORMAT,
        "config": config,
        "dtype": str(floating[0]).removeprefix("torch.") if floating else None,
        "state_dict": state,
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu", allow_pickle: bool = False
) -> torch.nn.Module:
    """Read a model written by ``save_model``; returns it in eval mode.

    Parameters
    ----------
    path: the file.
    map_location: device for the weights (default CPU).
    allow_pickle:
        ``False`` (default): the file is read with ``torch.load(weights_only=True)``
        and must be in ``MODEL_FORMAT``. ``True``: also accept a whole pickled
        ``nn.Module`` (``torch.save(model, path)``), read with ``weights_only=False``,
        which runs code stored in the file -- only for files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if not isinstance(allow_pickle, bool):
        raise TypeError(f"allow_pickle must be True or False, got {allow_pickle!r}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{str(path)!r} is not a {MODEL_FORMAT} file (the safe loader refused it: "
            f"{str(err).splitlines()[0]}). If it is a whole pickled nn.Module from a source you "
            "trust, pass allow_pickle=True (--allow-pickle)"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{str(path)!r} is not a readable torch file: {err}") from None
    if allow_pickle and isinstance(payload, torch.nn.Module):
        return payload.eval()
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{str(path)!r} is not a {MODEL_FORMAT} file (found {found!r})")
    return _rebuild(payload, path).eval()


def _rebuild(payload: dict[str, Any], path: Path) -> torch.nn.Module:
    from curse_of_memory.models import build_model

    model = build_model(payload["config"])
    if payload.get("dtype"):
        model = model.to(getattr(torch, payload["dtype"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{str(path)!r}: weights do not fit the saved config: {err}") from None
    return model


def _check_plain(name: str, value: Any) -> None:
    """Raise unless ``value`` is built from plain values (what weights_only can read back)."""
    if isinstance(value, _PLAIN_TYPES):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{name}[{i}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be strings, got {key!r}")
            _check_plain(f"{name}[{key!r}]", item)
        return
    raise TypeError(
        f"{name} must hold only str/int/float/bool/None, lists and dicts; got "
        f"{type(value).__name__}"
    )
