"""``--model MODEL``: a saved model file, or a user's Python function that builds a model.

Accepted forms (``ACCEPTED_FORMS``):

- ``path/to/model.pt``: a file written by ``train`` / ``save_model``, read with
  ``torch.load(weights_only=True)``, so it runs no code; a whole pickled
  ``nn.Module`` only with ``--allow-pickle``.
- ``path/to/file.py:FUNCTION``: the file is run as a module and ``FUNCTION(**params)``
  is called;
- ``package.module:FUNCTION``: the module is imported (the working folder is on the
  import path) and ``FUNCTION(**params)`` is called.

The last two run the user's code: that is explicit, since the user names it. The
function must return a ``torch.nn.Module`` or a callable ``(batch, T, d) ->
(batch, T, d_out)`` (a tuple output means its first item).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCEPTED_FORMS = (
    "a saved model file (from `train`), path/to/file.py:FUNCTION or package.module:FUNCTION"
)
_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass
class LoadedModel:
    """A model named on the command line, with what the user should be told about it."""

    model: Any
    label: str
    source: str  # "model file" or "Python function"


def load_model_spec(
    spec: str, allow_pickle: bool = False, params: dict | None = None
) -> LoadedModel:
    """The model ``spec`` names (see the module docstring for the forms).

    Parameters
    ----------
    spec: the ``--model`` value.
    allow_pickle: accept a whole pickled ``nn.Module`` file (runs code from the file).
    params: keyword arguments for the function of the two code forms.
    """
    params = dict(params or {})
    if spec.endswith(".py"):
        raise ValueError(
            f"--model {spec!r} is Python code: name the function that builds the model, "
            f"e.g. {spec}:build"
        )
    if Path(spec).is_file() or ":" not in spec:  # a file (also "C:\\x.pt" on Windows)
        if params:
            raise ValueError("--model-param applies to --model FILE.py:FUNCTION forms only")
        return LoadedModel(_load_file(spec, allow_pickle), spec, "model file")
    where, _, function = spec.rpartition(":")
    if not where or not _DOTTED_NAME.fullmatch(function):
        raise ValueError(f"--model {spec!r} is not understood; --model takes {ACCEPTED_FORMS}")
    if where.endswith(".py"):
        module = _run_file(Path(where), spec)
    elif _DOTTED_NAME.fullmatch(where):
        module = _import_module(where, spec)
    else:
        raise ValueError(f"--model {spec!r} is not understood; --model takes {ACCEPTED_FORMS}")
    factory = _attribute(module, function, spec)
    model = _call(factory, params, spec)
    return LoadedModel(model, spec, "Python function")


def _load_file(path: str, allow_pickle: bool) -> Any:
    from curse_of_memory.training import load_model

    if not Path(path).exists():
        raise FileNotFoundError(f"--model {path!r}: no such file; --model takes {ACCEPTED_FORMS}")
    return load_model(path, allow_pickle=allow_pickle)


def _run_file(path: Path, spec: str) -> Any:
    """Run ``path`` as a fresh module (its folder first on the import path, as ``python``)."""
    if not path.is_file():
        raise FileNotFoundError(f"--model {spec!r}: file {str(path)!r} does not exist")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"_curse_of_memory_user_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"--model {spec!r}: {str(path)!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # lets classes defined there be found by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # user code may raise anything: report it on one line
        sys.modules.pop(name, None)
        raise ValueError(f"--model {spec!r}: running {str(path)!r} failed: {_where(err)}") from None
    return module


def _import_module(name: str, spec: str) -> Any:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # modules of the working folder, as `python -m`
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise ValueError(
                f"--model {spec!r}: no module named {err.name!r} (looked in the working folder "
                "and the installed packages)"
            ) from None
        raise ValueError(f"--model {spec!r}: importing {name!r} failed: {_where(err)}") from None
    except Exception as err:  # user code may raise anything: report it on one line
        raise ValueError(f"--model {spec!r}: importing {name!r} failed: {_where(err)}") from None


def _attribute(module: Any, dotted: str, spec: str) -> Any:
    value = module
    for part in dotted.split("."):
        if not hasattr(value, part):
            defined = sorted(
                n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
            )
            raise ValueError(
                f"--model {spec!r}: {dotted!r} is not defined there; callables defined: "
                f"{', '.join(defined) or 'none'}"
            )
        value = getattr(value, part)
    if not callable(value):
        raise ValueError(
            f"--model {spec!r}: {dotted!r} is a {type(value).__name__}, not a function"
        )
    return value


def _call(factory: Any, params: dict, spec: str) -> Any:
    import torch

    try:
        model = factory(**params)
    except Exception as err:  # user code may raise anything: report it on one line
        raise ValueError(f"--model {spec!r}: calling it failed: {_where(err)}") from None
    if not (isinstance(model, torch.nn.Module) or callable(model)):
        raise ValueError(
            f"--model {spec!r} returned a {type(model).__name__}; it must return a "
            "torch.nn.Module or a callable (batch, T, d) -> (batch, T, d_out)"
        )
    return model


def _where(err: BaseException) -> str:
    """``"NameError: name 'x' is not defined (my_model.py, line 4)"``."""
    if isinstance(err, SyntaxError):  # its message already names the file and line
        return f"SyntaxError: {err}"
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith("<")]
    place = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {err}{place}"
