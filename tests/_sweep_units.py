"""Small unit experiments for the executor and run-folder tests.

Unit functions live at module level here so that worker processes (a spawned local
pool, Dask workers) can import them by reference. ``register(monkeypatch, name,
module)`` puts an experiment into the registry for one test.
"""

from __future__ import annotations

import json
import os
import time
import types
from dataclasses import dataclass
from pathlib import Path

from curse_of_memory._atomic import atomic_write_json
from curse_of_memory.experiments import _registry
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._units import Unit, UnitContext


def _log(log_dir: str, key: str, line: str) -> None:
    with open(Path(log_dir) / f"{key.replace('/', '_')}.log", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def log_lines(log_dir: str | Path, key: str) -> list[str]:
    """Lines a unit appended to its log (one per start and per step)."""
    path = Path(log_dir) / f"{key.replace('/', '_')}.log"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def square(context: UnitContext, value: int, log_dir: str) -> dict:
    """``value**2`` (and its seed); logs each start. Raises while the file
    ``fail-<value>`` exists in ``log_dir`` (a fault the user can fix between runs)."""
    _log(log_dir, context.key, f"start {os.getpid()}")
    if (Path(log_dir) / f"fail-{value}").exists():
        raise ValueError(f"unit {value} cannot be computed")
    return {"square": value * value, "seed": context.seed}


def thread_counts(context: UnitContext) -> dict:
    """The torch/numba thread counts, OMP_NUM_THREADS and the progress flag of the unit."""
    import numba
    import torch

    return {
        "torch": torch.get_num_threads(),
        "numba": numba.get_num_threads(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "progress": context.progress,
    }


def train_small(context: UnitContext, hidden: int, epochs: int) -> dict:
    """Train a float64 tanh ContinuousRNN on an exponential-memory target; its losses,
    test error and weights (every number depends on the unit's seed)."""
    import torch

    from curse_of_memory import ContinuousRNN, LinearFunctional, make_dataset, train

    torch.manual_seed(context.seed)
    target = LinearFunctional.named("exp", rate=0.2)
    data = make_dataset(target, n=96, length=20, dt=1.0, seed=context.seed)
    model = ContinuousRNN(hidden, activation="tanh", parametrization="softplus").double()
    result = train(model, data, epochs=epochs, lr=0.01, batch_size=32, progress=False)
    x_test, y_test = data.test
    with torch.no_grad():
        test_error = float(torch.mean((model(x_test) - y_test) ** 2))
        weights = [float(p.sum()) for p in model.parameters()]
    return {"losses": list(result.train_losses), "test_error": test_error, "weights": weights}


def count_steps(context: UnitContext, steps: int, pause: float, log_dir: str) -> dict:
    """``steps`` slow steps with a checkpoint after each; a restart continues from it.

    Logs ``start <pid> <steps already done>`` at each start and ``step i`` per step.
    """
    checkpoint = context.checkpoint_dir / "state.json"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    done = json.loads(checkpoint.read_text())["done"] if checkpoint.exists() else 0
    _log(log_dir, context.key, f"start {os.getpid()} {done}")
    for step in range(done, steps):
        time.sleep(pause)
        _log(log_dir, context.key, f"step {step}")
        atomic_write_json(checkpoint, {"done": step + 1})
    return {"steps": steps, "seed": context.seed}


def interrupt_once(context: UnitContext, value: int, log_dir: str) -> dict:
    """Simulates Ctrl-C the first time unit ``value == 2`` runs."""
    flag = Path(log_dir) / "interrupted"
    if value == 2 and not flag.exists():
        flag.touch()
        raise KeyboardInterrupt
    return {"square": value * value}


@dataclass
class SquaresConfig:
    values: tuple[int, ...] = (1, 2, 3, 4)
    log_dir: str = ""
    seed: int = 5

    def __post_init__(self) -> None:
        self.values = tuple(self.values)
        if any(not isinstance(v, int) or v < 0 for v in self.values):
            raise ValueError(f"values must be non-negative integers, got {self.values!r}")


def _squares_units(config: SquaresConfig) -> list[Unit]:
    return [Unit(f"v/{v}", square, {"value": v, "log_dir": config.log_dir}) for v in config.values]


def _interrupting_units(config: SquaresConfig) -> list[Unit]:
    return [
        Unit(f"v/{v}", interrupt_once, {"value": v, "log_dir": config.log_dir})
        for v in config.values
    ]


def _assemble_squares(config: SquaresConfig, results: dict) -> dict:
    return {
        "squares": [results[f"v/{v}"]["square"] for v in config.values],
        "units": results,
    }


def make_module(name: str, config_class, units, assemble, presets=None) -> types.ModuleType:
    """An experiment module made of units (plot: an empty figure; one claim)."""
    module = types.ModuleType(f"sweep_units_{name}")
    module.DESCRIPTION = f"test experiment {name}"
    module.Config = config_class
    module.PRESETS = presets or {"quick": config_class(), "paper": config_class()}
    module.units = units
    module.assemble = assemble
    module.plot = lambda results: __import__("matplotlib.pyplot").pyplot.figure()
    module.claims = lambda results: [Claim(f"{name}.ran", "the units ran", True)]
    module.summary = lambda results: []
    return module


def squares_module(interrupting: bool = False) -> types.ModuleType:
    units = _interrupting_units if interrupting else _squares_units
    return make_module("squares", SquaresConfig, units, _assemble_squares)


@dataclass
class TrainConfig:
    widths: tuple[int, ...] = (3, 5)
    seeds: int = 2
    epochs: int = 2
    seed: int = 11


def _train_units(config: TrainConfig) -> list[Unit]:
    return [
        Unit(f"m{width}/seed{s}", train_small, {"hidden": width, "epochs": config.epochs})
        for width in config.widths
        for s in range(config.seeds)
    ]


def train_module() -> types.ModuleType:
    return make_module("train", TrainConfig, _train_units, lambda config, results: results)


@dataclass
class StepsConfig:
    units: int = 3
    steps: int = 6
    pause: float = 0.3
    log_dir: str = ""
    seed: int = 0


def _steps_units(config: StepsConfig) -> list[Unit]:
    params = {"steps": config.steps, "pause": config.pause, "log_dir": config.log_dir}
    return [Unit(f"u{i}", count_steps, params) for i in range(config.units)]


def steps_module() -> types.ModuleType:
    return make_module("steps", StepsConfig, _steps_units, lambda config, results: results)


@dataclass
class ThreadsConfig:
    units: int = 2
    seed: int = 0


def threads_module() -> types.ModuleType:
    return make_module(
        "threads",
        ThreadsConfig,
        lambda config: [Unit(f"t{i}", thread_counts) for i in range(config.units)],
        lambda config, results: results,
    )


def register(monkeypatch, name: str, module: types.ModuleType) -> types.ModuleType:
    """Make ``module`` the registered experiment ``name`` for one test."""
    monkeypatch.setitem(_registry.EXPERIMENTS, name, module)
    return module
