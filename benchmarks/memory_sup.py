"""Accuracy and cost of the memory-function supremum against brute force.

``python benchmarks/memory_sup.py`` measures, for the width-1 ContinuousRNN
dh/dt = sigma(w h + u x), y = c h (w = -0.5, u = 2, c = 1.5, no bias, dt = 0.05,
t <= 60) with tanh and hardtanh, at several input bounds X:

* the brute-force sup over 20,000 amplitudes of the exact discrete response
  |c sigma(a_k(x))| / x, a_0 = u x, a_{k+1} = a_k + w dt sigma(a_k) (numpy, float64);
* ``memory_function(..., input_bound=X)`` (refined to a relative change < 1e-3);
* the same starting grid without refinement (``max_refinements=0``), and, for the
  unbounded sup, the fixed grid 1e-2..1e3 of earlier versions.

It prints a markdown table: the largest relative error where the oracle is above
1e-9 of its peak (below, Heaviside differences are at the float64 rounding floor),
the wall time and the number of probe sequences. Times are medians of 3 runs after a
warm-up, in one process with one torch thread, so ratios are comparable.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings

import numpy as np
import torch

from curse_of_memory import memory_function
from curse_of_memory.analysis.memory.known import brute_force_memory, width_one_rnn

DT, LENGTH = 0.05, 1201
BOUNDS = (0.1, 1.0, 3.0, math.inf)
OLD_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _measure(model, **options) -> tuple[np.ndarray, float, int]:
    memory_function(model, LENGTH, DT, **options)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        memory = memory_function(model, LENGTH, DT, **options)
        times.append(time.perf_counter() - start)
    return memory.values, statistics.median(times), memory.meta["n_probes"]


def _error(values: np.ndarray, oracle: np.ndarray) -> float:
    above = oracle > 1e-9 * oracle.max()
    return float(np.max(np.abs(values[above] / oracle[above] - 1)))


def main() -> None:
    torch.set_num_threads(1)
    print("| model | X | estimator | max rel. error | time (s) | probes |")
    print("|---|---|---|---|---|---|")
    for activation in ("tanh", "hardtanh"):
        model = width_one_rnn(activation, DT)
        for bound in BOUNDS:
            oracle, _ = brute_force_memory(activation, bound, LENGTH, DT, n_amplitudes=20_000)
            variants = {
                "refined (default)": {"input_bound": bound},
                "starting grid only": {"input_bound": bound, "max_refinements": 0},
            }
            if math.isinf(bound):
                variants["fixed grid 1e-2..1e3"] = {
                    "input_bound": bound, "scales": OLD_GRID, "max_refinements": 0,
                    "n_starts": 1,
                }  # fmt: skip
            for name, options in variants.items():
                with warnings.catch_warnings():  # the grid-only variants are "not converged"
                    warnings.simplefilter("ignore", RuntimeWarning)
                    values, seconds, probes = _measure(model, **options)
                print(f"| {activation} | {bound:g} | {name} | {_error(values, oracle):.2e} | "
                      f"{seconds:.2f} | {probes} |")  # fmt: skip


if __name__ == "__main__":
    main()
