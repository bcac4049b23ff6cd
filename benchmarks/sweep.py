"""Speed of a sweep on each executor: ``python benchmarks/sweep.py [--repeats 3]``.

The sweep (``sweep_units.py``) is ``--units`` independent small training runs
(tanh ContinuousRNN, m = 16, softplus eigenvalues, T = 100, ``--samples`` sequences,
``--epochs`` epochs, float64), run through ``run_experiment`` into a temporary folder with

* ``jobs=1``: one unit after another in this process (torch/numba use every core);
* ``jobs=1, 1 thread``: the same with one torch/numba thread;
* ``jobs=2``: a local pool of 2 worker processes (cores // 2 threads each);
* ``dask (starts cluster)``: ``executor="dask"``, which starts a local cluster of 2
  single-threaded workers, runs the units and stops it;
* ``dask (running cluster)``: the same on a cluster started before the timer.

Every variant's wall time includes starting its worker processes (each imports
torch). The variants are timed round-robin, ``--repeats`` rounds, so load bursts on a
shared machine hit them alike; speed-ups are ratios against ``jobs=1`` of the same
round. Two sweeps of units that do nothing give each executor's fixed cost (2 units:
starting its workers, which import torch, and the first unit on each) and its cost
per unit (``--noop-units`` units: driver, transport, result file), as
``(wall(N) - wall(2)) / (N - 2)``. The results of every variant must be identical (the
script checks). Results go to ``sweep_results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numba
import torch
from sweep_units import experiment_module

from curse_of_memory._atomic import atomic_write_json
from curse_of_memory.experiments import _registry, run_experiment

NAME = "benchmark_sweep"


def _variants(address: str) -> dict[str, dict]:
    return {
        "jobs=1": {"jobs": 1},
        "jobs=1, 1 thread": {"jobs": 1, "threads": 1},
        "jobs=2": {"jobs": 2},
        "dask (starts cluster)": {"executor": "dask", "jobs": 2},
        "dask (running cluster)": {"executor": "dask", "address": address},
    }


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)


def _time_sweep(options: dict, overrides: dict, root: Path) -> tuple[float, dict]:
    """Wall time of one run and its unit results."""
    options = dict(options)
    _set_threads(options.pop("threads", os.cpu_count()))
    start = time.perf_counter()
    run_dir = run_experiment(NAME, out_dir=root, progress=False, overrides=overrides, **options)
    wall = time.perf_counter() - start
    _set_threads(os.cpu_count())
    return wall, json.loads((run_dir / "results.json").read_text())["units"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument("--units", type=int, default=8, help="training units per sweep")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each training unit")
    parser.add_argument("--samples", type=int, default=2048, help="sequences per training unit")
    parser.add_argument("--noop-units", type=int, default=100, help="units of the no-op sweep")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("sweep_results.json"))
    args = parser.parse_args()
    if min(args.repeats, args.units, args.epochs, args.samples, args.noop_units) < 1:
        parser.error("--repeats, --units, --epochs, --samples and --noop-units must be >= 1")
    from distributed import LocalCluster

    _registry.EXPERIMENTS[NAME] = experiment_module()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    variants = _variants(cluster.scheduler_address)
    sweeps = {
        "train": {"units": args.units, "epochs": args.epochs, "samples": args.samples},
        "noop": {"units": args.noop_units, "noop": True},
        "noop2": {"units": 2, "noop": True},
    }
    walls = {sweep: {name: [] for name in variants} for sweep in sweeps}
    reference: dict = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_index in range(args.repeats):
                for sweep, overrides in sweeps.items():
                    for name, options in variants.items():
                        wall, results = _time_sweep(options, overrides, Path(tmp))
                        if reference.setdefault(sweep, results) != results:
                            raise AssertionError(f"{name}: results differ from jobs=1")
                        walls[sweep][name].append(wall)
                        print(f"round {round_index + 1} {sweep:5s} {name:24s} {wall:7.2f} s")
    finally:
        cluster.close()
    rows = []
    for name in variants:
        train = walls["train"][name]
        ratios = [base / t for base, t in zip(walls["train"]["jobs=1"], train, strict=True)]
        extra = [
            (many - two) / (args.noop_units - 2)
            for many, two in zip(walls["noop"][name], walls["noop2"][name], strict=True)
        ]
        rows.append(
            {
                "variant": name,
                "train_wall_s": train,
                "speedup_vs_jobs1": ratios,
                "startup_s": walls["noop2"][name],
                "per_unit_overhead_ms": [1e3 * e for e in extra],
            }
        )
    print(f"\n{args.units} training units; median over {args.repeats} rounds (and per round)")
    print(f"{'variant':24s}  {'train s':>8s}  {'speed-up':>8s}  {'start s':>8s}  {'ms/unit':>8s}")
    for row in rows:
        print(
            f"{row['variant']:24s}  {statistics.median(row['train_wall_s']):8.2f}  "
            f"{statistics.median(row['speedup_vs_jobs1']):7.2f}x  "
            f"{statistics.median(row['startup_s']):8.2f}  "
            f"{statistics.median(row['per_unit_overhead_ms']):8.2f}   "
            + " ".join(f"{r:.2f}x" for r in row["speedup_vs_jobs1"])
        )
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/sweep.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "walls_s": walls,
        "rows": rows,
    }
    atomic_write_json(args.out, payload)
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
