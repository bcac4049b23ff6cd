"""The sweep timed by ``benchmarks/sweep.py``: small CPU-bound training runs as units.

Kept in its own module so that worker processes (local pool, Dask workers) import
the unit function by reference.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._units import Unit, UnitContext


def train_unit(context: UnitContext, hidden: int, epochs: int, samples: int) -> dict:
    """Train a tanh ContinuousRNN (softplus eigenvalues, float64) on 0.9^t memory."""
    import torch

    from curse_of_memory import ContinuousRNN, LinearFunctional, make_dataset, train

    torch.manual_seed(context.seed)
    data = make_dataset(
        LinearFunctional.named("exp", rate=0.1), n=samples, length=100, dt=1.0, seed=context.seed
    )
    model = ContinuousRNN(hidden, activation="tanh", parametrization="softplus").double()
    result = train(model, data, epochs=epochs, lr=0.01, batch_size=64, progress=False)
    return {"final_loss": result.train_losses[-1]}


def noop_unit(context: UnitContext) -> dict:
    """No work: what is left of a unit's time is the executor's overhead."""
    return {"seed": context.seed}


@dataclass
class SweepConfig:
    units: int = 8
    hidden: int = 16
    epochs: int = 20
    samples: int = 2048
    noop: bool = False
    seed: int = 0


def _units(config: SweepConfig) -> list[Unit]:
    if config.noop:
        return [Unit(f"noop{i}", noop_unit) for i in range(config.units)]
    params = {"hidden": config.hidden, "epochs": config.epochs, "samples": config.samples}
    return [Unit(f"train{i}", train_unit, params) for i in range(config.units)]


def experiment_module() -> types.ModuleType:
    """The sweep as an experiment module (register it under a name to run it)."""
    module = types.ModuleType("benchmark_sweep")
    module.DESCRIPTION = "benchmark sweep of small training runs"
    module.Config = SweepConfig
    module.PRESETS = {"quick": SweepConfig()}
    module.units = _units
    module.assemble = lambda config, results: {"units": results}
    module.plot = lambda results: __import__("matplotlib.pyplot").pyplot.figure()
    module.claims = lambda results: [Claim("sweep.ran", "the sweep ran", True)]
    module.summary = lambda results: []
    return module
