"""Run an experiment into ``<out>/<experiment>/<run-id>/``, resume it, and read the ledger.

Layout of a run directory (every file written atomically, ``DONE`` written last)::

    config.json     experiment, preset, overrides and the full config
    steps/          per-step partial results (reused by ``resume=True``)
    results.json    raw numbers
    curves.csv      panel, width, beta, error (one row per point of every curve)
    figure.png, figure.pdf
    claims.json     list of Claim dicts
    DONE            manifest: finished time, files, claims summary
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curse_of_memory._validation import check_choice
from curse_of_memory.experiments._io import (
    StepStore,
    atomic_write_json,
    atomic_write_text,
)
from curse_of_memory.experiments._registry import EXPERIMENTS
from curse_of_memory.experiments._units import is_unit_experiment, run_units_serially
from curse_of_memory.plotting import save_figure

DONE_FILE = "DONE"
_FIGURE_OPTIONS = {"dpi": 150, "bbox_inches": "tight"}


def _config_dict(config: Any) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))  # tuples -> lists


def make_config(name: str, preset: str = "quick", overrides: Mapping[str, Any] | None = None):
    """The config of experiment ``name`` at ``preset`` with ``overrides`` applied (validated)."""
    module = EXPERIMENTS[check_choice("experiment", name, EXPERIMENTS)]
    check_choice("preset", preset, module.PRESETS)
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(module.Config)}
    for key in overrides:
        if key not in fields:
            raise ValueError(
                f"unknown override {key!r} for {name}; valid keys: {', '.join(sorted(fields))}"
            )
    return dataclasses.replace(module.PRESETS[preset], **overrides)


def _curves_csv(results: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["panel", "width", "beta", "error"])
    for panel, data in results.get("panels", {}).items():
        for curve in data.get("curves", []):
            for beta, error in zip(curve["betas"], curve["errors"], strict=True):
                writer.writerow([panel, curve["width"], repr(beta), repr(error)])
    return buffer.getvalue()


def _compute(
    module: Any, config: Any, progress: bool, store: StepStore, checkpoint_root: Path | None
) -> dict:
    """The experiment's results: its units run (or reused) and assembled, or its ``run``."""
    if not is_unit_experiment(module):
        return module.run(config, progress=progress, store=store)
    unit_results = run_units_serially(
        module.units(config),
        store,
        base_seed=getattr(config, "seed", 0),
        progress=progress,
        checkpoint_root=checkpoint_root,
    )
    return module.assemble(config, unit_results)


def _new_run_id(experiment_dir: Path) -> str:
    base = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id, suffix = base, 1
    while (experiment_dir / run_id).exists():
        run_id, suffix = f"{base}-{suffix}", suffix + 1
    return run_id


def run_experiment(
    name: str,
    preset: str = "quick",
    out_dir: str | Path = "results",
    run_id: str | None = None,
    resume: bool = False,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Run experiment ``name`` and write its run directory; returns that directory.

    Parameters
    ----------
    name: key of :data:`EXPERIMENTS`.
    preset: ``"quick"`` or ``"paper"`` (or another preset the experiment defines).
    out_dir: root of all results.
    run_id: directory name of this run; default a timestamp.
    resume: continue an interrupted run with the same ``run_id`` (same config
        required), reusing its saved steps. A completed run is returned as is.
    progress: show progress bars.
    overrides: config fields to change, e.g. ``{"samples": 3}``.
    """
    config = make_config(name, preset, overrides)
    module = EXPERIMENTS[name]
    experiment_dir = Path(out_dir) / name
    if run_id is None:
        if resume:
            raise ValueError("resume=True needs the run_id of the run to continue")
        run_id = _new_run_id(experiment_dir)
    if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
        raise ValueError(f"run_id must be a plain directory name, got {run_id!r}")
    run_dir = experiment_dir / run_id
    header = {
        "experiment": name,
        "preset": preset,
        "overrides": dict(overrides or {}),
        "config": _config_dict(config),
    }

    if run_dir.exists():
        if not resume:
            raise FileExistsError(f"{run_dir} already exists; pass resume=True or another run_id")
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        if saved["config"] != header["config"]:
            raise ValueError(f"cannot resume {run_dir}: its config differs from the requested one")
        if (run_dir / DONE_FILE).is_file():
            return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", header)

    store = StepStore(run_dir / "steps")
    results = _compute(module, config, progress, store, run_dir / "checkpoints")
    results["run"] = {"run_id": run_id, "preset": preset, "reused_steps": sorted(store.reused)}
    atomic_write_json(run_dir / "results.json", results)
    atomic_write_text(run_dir / "curves.csv", _curves_csv(results))
    figure = module.plot(results)
    try:
        for suffix in ("png", "pdf"):
            save_figure(figure, run_dir / f"figure.{suffix}", close=False, **_FIGURE_OPTIONS)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    claim_list = [c.to_dict() for c in module.claims(results)]
    atomic_write_json(run_dir / "claims.json", claim_list)
    manifest = {
        "experiment": name,
        "run_id": run_id,
        "preset": preset,
        "finished": datetime.now(timezone.utc).isoformat(),
        "files": [
            "config.json",
            "results.json",
            "curves.csv",
            "figure.png",
            "figure.pdf",
            "claims.json",
        ],
        "claims_passed": sum(c["passed"] for c in claim_list),
        "claims_total": len(claim_list),
    }
    atomic_write_json(run_dir / DONE_FILE, manifest)  # written last: marks the run complete
    return run_dir


def latest_claims(out_dir: str | Path = "results") -> list[dict]:
    """Claims of the latest complete run of every experiment under ``out_dir``.

    Returns a list of dicts with keys experiment, run_id, preset, finished, id,
    statement, passed (sorted by experiment, then claim order).
    """
    rows = []
    root = Path(out_dir)
    for name in sorted(EXPERIMENTS):
        manifests = []
        for done in (root / name).glob(f"*/{DONE_FILE}"):
            manifests.append((json.loads(done.read_text(encoding="utf-8")), done.parent))
        if not manifests:
            continue
        manifest, run_dir = max(manifests, key=lambda item: item[0]["finished"])
        for claim in json.loads((run_dir / "claims.json").read_text(encoding="utf-8")):
            rows.append(
                {
                    "experiment": name,
                    "run_id": manifest["run_id"],
                    "preset": manifest["preset"],
                    "finished": manifest["finished"],
                    "id": claim["id"],
                    "statement": claim["statement"],
                    "passed": bool(claim["passed"]),
                }
            )
    return rows


def headline(names: tuple[str, ...] = ("fig1", "fig4"), preset: str = "quick") -> str:
    """Run experiments in memory (no files) and return a plain-language summary.

    With the quick presets fig1 + fig4 take well under a second on a CPU.
    """
    lines = []
    for name in names:
        config = make_config(name, preset)
        module = EXPERIMENTS[name]
        results = _compute(module, config, False, StepStore(), None)
        claims = module.claims(results)
        passed = sum(c.passed for c in claims)
        lines.append(f"{name} ({preset}): {passed}/{len(claims)} paper claims reproduced")
        lines.extend(f"  {line}" for line in module.summary(results))
    return "\n".join(lines)
