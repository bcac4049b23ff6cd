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

import io
import re
from pathlib import Path
from typing import Any

import torch

from curse_of_memory._atomic import atomic_write_bytes

MODEL_FORMAT = "curse-of-memory/model-v1"

_PLAIN_TYPES = (str, int, float, bool, type(None))
_PICKLE_HINT = (
    ". If it is a whole pickled nn.Module from a source you trust, pass allow_pickle=True "
    "(--allow-pickle)"
)


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
    return atomic_torch_save(payload, path)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; returns the path.

    The file is serialised in memory first and written with plain file writes, so a
    full or read-only disk raises an ``OSError`` naming the file (``torch.save``
    itself reports it as an unrelated ``RuntimeError``).
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


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
    payload = read_torch_file(path, MODEL_FORMAT, map_location, allow_pickle, _PICKLE_HINT)
    if allow_pickle and isinstance(payload, torch.nn.Module):
        return payload.eval()
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{str(path)!r} is not a {MODEL_FORMAT} file (found {found!r})")
    return _rebuild(payload, path).eval()


def read_torch_file(
    path: Path,
    file_format: str,
    map_location: Any = "cpu",
    allow_pickle: bool = False,
    refused_hint: str = "",
) -> Any:
    """What ``torch.load`` finds in ``path``; a one-line ``ValueError`` naming the file
    and what is wrong (empty, text, truncated, refused by the safe loader) otherwise.

    ``file_format`` names the expected format in the messages; ``refused_hint`` is
    added when the safe loader (``weights_only=True``) refuses the file.
    """
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        raise ValueError(f"{str(path)!r} is empty, not a {file_format} file")
    if not head.startswith((b"PK", b"\x80")):  # torch files are zip archives or pickles
        raise ValueError(f"{str(path)!r} is not a torch file (it starts with {head[:24]!r})")
    try:
        return torch.load(path, map_location=map_location, weights_only=not allow_pickle)
    except Exception as err:  # truncated or foreign files fail in many ways
        text = str(err)
        if not allow_pickle and "weights_only" in text.replace(" ", "_").lower():
            found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
            what = f" (it holds {found.group(1)})" if found else ""
            raise ValueError(
                f"{str(path)!r} is not a {file_format} file: the safe loader refused it{what}"
                + refused_hint
            ) from None
        first_sentence = (text.strip().splitlines() or [""])[0].split(". ")[0]
        raise ValueError(
            f"{str(path)!r} is not a readable torch file ({type(err).__name__}: {first_sentence})"
        ) from None


def _rebuild(payload: dict[str, Any], path: Path) -> torch.nn.Module:
    from curse_of_memory.models import build_model

    if not isinstance(payload.get("config"), dict) or not isinstance(
        payload.get("state_dict"), dict
    ):
        raise ValueError(f"{str(path)!r}: a {MODEL_FORMAT} file needs a config and a state_dict")
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
