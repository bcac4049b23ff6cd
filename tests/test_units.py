"""Experiments written as units: keys, derived seeds, run, resume."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass

import pytest

from curse_of_memory.experiments import _registry, run_experiment
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._units import Unit, UnitContext, derive_seed

CALLS: list[str] = []


def _square(context: UnitContext, value: int) -> dict:
    CALLS.append(context.key)
    return {"square": value * value, "seed": context.seed}


@dataclass
class _Config:
    values: tuple[int, ...] = (1, 2, 3)
    seed: int = 7


def _fake_experiment() -> types.ModuleType:
    module = types.ModuleType("fake_units_experiment")
    module.DESCRIPTION = "test experiment made of units"
    module.Config = _Config
    module.PRESETS = {"quick": _Config()}
    module.units = lambda config: [
        Unit(f"value/v{v}", _square, {"value": v}) for v in config.values
    ]
    module.assemble = lambda config, results: {
        "squares": [results[f"value/v{v}"]["square"] for v in config.values],
        "seeds": [results[f"value/v{v}"]["seed"] for v in config.values],
    }
    module.plot = lambda results: __import__("matplotlib.pyplot").pyplot.figure()
    module.claims = lambda results: [
        Claim("fake.sum", "sum of squares is 14", sum(results["squares"]) == 14)
    ]
    module.summary = lambda results: [str(results["squares"])]
    return module


@pytest.fixture
def fake_experiment(monkeypatch):
    module = _fake_experiment()
    monkeypatch.setitem(_registry.EXPERIMENTS, "fake", module)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    CALLS.clear()
    return module


def test_derived_seed_depends_on_key_and_base_only():
    assert derive_seed("a/b", 0) == derive_seed("a/b", 0)
    assert derive_seed("a/b", 0) != derive_seed("a/c", 0)
    assert derive_seed("a/b", 0) != derive_seed("a/b", 1)
    assert 0 <= derive_seed("x", 3) < 2**31


@pytest.mark.parametrize("key", ["", "/a", "a//b", "a b", "../up", "a/.hidden"])
def test_bad_unit_keys_are_refused(key):
    with pytest.raises(ValueError, match="unit key"):
        Unit(key, _square, {"value": 1})


def test_units_run_assemble_and_resume_without_recomputing(tmp_path, fake_experiment):
    run_dir = run_experiment("fake", out_dir=tmp_path, run_id="r1", progress=False)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["squares"] == [1, 4, 9]
    assert results["seeds"] == [derive_seed(f"value/v{v}", 7) for v in (1, 2, 3)]
    assert sorted(CALLS) == ["value/v1", "value/v2", "value/v3"]
    # an interrupted run: the DONE marker and one unit result are gone
    (run_dir / "DONE").unlink()
    (run_dir / "steps" / "value" / "v2.json").unlink()
    CALLS.clear()
    run_experiment("fake", out_dir=tmp_path, run_id="r1", resume=True, progress=False)
    assert CALLS == ["value/v2"]
    again = json.loads((run_dir / "results.json").read_text())
    assert again["squares"] == results["squares"] and again["seeds"] == results["seeds"]
