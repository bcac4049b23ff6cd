"""How idle OpenMP threads wait: libgomp's default (variable unset: spin for a while, then
sleep), ``OMP_WAIT_POLICY=ACTIVE`` (spin) and ``PASSIVE`` (sleep).

The policy is read once per process, when torch loads its OpenMP runtime, so every
measurement is a fresh Python process. Each round runs every policy once, in turn, so a
burst of load on a shared machine hits them alike. The workload in each process: the
median of 30 Adam training steps of a tanh ``ContinuousRNN`` (softplus, diagonal W,
batch 128, T = 100, m = 16 and 64) and of ``torch.nn.RNN`` of the same width, after 5
warm-up steps, with torch's and numba's default thread counts.

Usage: ``python benchmarks/openmp_wait.py [--rounds 5] [--out openmp_wait.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone

POLICIES = ("unset", "ACTIVE", "PASSIVE")
WIDTHS = (16, 64)

# Runs in the child process; prints one JSON line {case: median seconds}.
_CHILD = """
import json, time, torch
from curse_of_memory import ContinuousRNN

def median_step(model, readout, x, y, steps=30, warmup=5):
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(readout(model(x)), y).backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]

torch.manual_seed(0)
x, y = torch.randn(128, 100, 1), torch.randn(128, 100, 1)
result = {}
for m in WIDTHS:
    model = ContinuousRNN(m, 1, 1, activation="tanh", parametrization="softplus")
    result[f"ContinuousRNN m={m}"] = median_step(model, lambda out: out, x, y)
    rnn = torch.nn.RNN(1, m, batch_first=True)
    result[f"torch.nn.RNN m={m}"] = median_step(rnn, lambda out: out[0][..., :1], x, y)
print(json.dumps(result))
"""


def run_child(policy: str) -> dict[str, float]:
    """The workload's median step times (s) in a fresh process under ``policy``."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "unset":
        env["OMP_WAIT_POLICY"] = policy
    code = f"WIDTHS = {WIDTHS!r}\n" + _CHILD
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")

    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        rounds.append({policy: run_child(policy) for policy in POLICIES})
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    cases = list(rounds[0]["unset"])
    print(
        f"{'case':24s}"
        + "".join(f"{policy + ' ms':>12s}" for policy in POLICIES)
        + "  unset/PASSIVE per round"
    )
    summary = {}
    for case in cases:
        times = {policy: [one[policy][case] for one in rounds] for policy in POLICIES}
        ratios = [u / p for u, p in zip(times["unset"], times["PASSIVE"], strict=True)]
        summary[case] = {
            **{f"{policy}_s": times[policy] for policy in POLICIES},
            "unset_over_passive": ratios,
        }
        print(
            f"{case:24s}"
            + "".join(f"{1e3 * statistics.median(times[policy]):12.2f}" for policy in POLICIES)
            + "  "
            + " ".join(f"{ratio:.2f}" for ratio in ratios)
        )
    if args.out:
        record = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "cases": summary,
        }
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
