"""How long does ``curse-of-memory reproduce fig2 --preset paper`` take? A projection.

Times, through the very functions a Figure 2 unit calls (``student_dataset``,
``new_student``, ``train``, then the unit's measurements), one training epoch of the
paper protocol (12,800 sequences of length 100, batch 128, Adam, validation on 1,280)
for every width m = 4, 8, 16, 64, and the evaluation of one trained student (perturbation
curve: 37 radii x 3 draws on 12,800 test sequences; eigenvalues; memory function). The
baseline in the same run is one epoch of ``torch.nn.RNN`` (m = 64) through ``train``.
m = 4 and 64 are also timed on one thread (``numba.set_num_threads(1)`` and
``torch.set_num_threads(1)``) instead of all of them: on a shared, oversubscribed machine
the threads of one process wait for each other.
Epochs are timed round-robin over the variants, so load bursts on a shared machine hit
them alike; the median per variant is reported.

Projection: ``sum_m (epochs * epoch_m + evaluation_m)`` with the preset's 1000 epochs.
Usage: ``python benchmarks/fig2_timing.py [--rounds 3] [--out benchmarks/fig2_timing.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

import numba
import torch
from run import _TorchRNN
from torch import nn

from curse_of_memory.experiments import fig2
from curse_of_memory.experiments._students import (
    StudentProtocol,
    memory_of,
    new_student,
    perturbation_curve_of,
    protocol_params,
    student_dataset,
    test_loss_of,
)
from curse_of_memory.training import train

BASELINE = "torch.nn.RNN m=64"


def _epoch_runner(model: nn.Module, dataset, protocol: StudentProtocol, threads: int | None):
    pair = (dataset.train, dataset.val)

    def epoch() -> float:
        defaults = numba.get_num_threads(), torch.get_num_threads()
        numba.set_num_threads(threads or defaults[0])
        torch.set_num_threads(threads or defaults[1])
        try:
            start = time.perf_counter()
            train(model, pair, preset=protocol.training, epochs=1, progress=False)
            return time.perf_counter() - start
        finally:
            numba.set_num_threads(defaults[0])
            torch.set_num_threads(defaults[1])

    return epoch


def _evaluation_seconds(model: nn.Module, dataset, protocol: StudentProtocol) -> float:
    evaluated = model.to(torch.float64)
    start = time.perf_counter()
    perturbation_curve_of(evaluated, test_loss_of(*dataset.test, protocol), protocol, seed=0)
    evaluated.recurrent_eigenvalues()
    memory_of(evaluated, protocol)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per variant")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)

    config = fig2.PRESETS["paper"]
    protocol = StudentProtocol(**protocol_params(config))
    dataset = student_dataset(config.target, protocol)
    models = {f"ContinuousRNN m={m}": new_student(m, "direct", "tanh", protocol, 0)
              for m in config.widths}  # fmt: skip
    torch.manual_seed(0)
    models[BASELINE] = _TorchRNN(64)
    runners = {name: _epoch_runner(model, dataset, protocol, None)
               for name, model in models.items()}  # fmt: skip
    for m in (4, 64):
        model = new_student(m, "direct", "tanh", protocol, 0)
        runners[f"ContinuousRNN m={m}, 1 thread"] = _epoch_runner(model, dataset, protocol, 1)
    for run in runners.values():  # warm-up: compilation, allocations
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            times[name].append(run())
    epoch = {name: statistics.median(values) for name, values in times.items()}
    evaluation = {m: _evaluation_seconds(models[f"ContinuousRNN m={m}"], dataset, protocol)
                  for m in config.widths}  # fmt: skip
    projected = sum(
        config.epochs * epoch[f"ContinuousRNN m={m}"] + evaluation[m] for m in config.widths
    )
    threads_ratio = {
        m: epoch[f"ContinuousRNN m={m}"] / epoch[f"ContinuousRNN m={m}, 1 thread"] for m in (4, 64)
    }

    print(f"one epoch of the paper protocol (median of {args.rounds}, round-robin):")
    for name, seconds in epoch.items():
        ratio = epoch[BASELINE] / seconds
        print(f"  {name:32s} {seconds:7.3f} s   ({ratio:.2f}x faster than {BASELINE})")
    print("evaluation of one trained student (perturbation curve, eigenvalues, memory):")
    for m, seconds in evaluation.items():
        print(f"  m={m:<3d} {seconds:7.2f} s")
    for m, ratio in threads_ratio.items():
        print(f"  m={m}: one thread is {ratio:.2f}x as fast as {numba.get_num_threads()}")
    print(f"projected `reproduce fig2 --preset paper`: {projected / 60:.1f} min "
          f"({config.epochs} epochs per width, one process)")  # fmt: skip
    if args.out:
        record = {
            "date": datetime.now(timezone.utc).isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
            "numba_threads": numba.get_num_threads(),
            "load_average": os.getloadavg(),
            "epoch_seconds": epoch,
            "epoch_samples": times,
            "evaluation_seconds": {str(m): s for m, s in evaluation.items()},
            "projected_minutes": projected / 60,
            "one_thread_speedup": {str(m): r for m, r in threads_ratio.items()},
        }
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
