"""Speed of the recurrence backends: ``python benchmarks/run.py [--quick] [--device D]``.

Cases, all timed in the same run so ratios are comparable:

* ``train``: one training step (forward + MSE backward + Adam) of a tanh
  ContinuousRNN (diagonal, symmetric Q diag Q^T and dense W; m = 16, 64; T = 100;
  batch 128; float32)
  with each backend, against ``torch.nn.RNN`` + linear readout of the same width
  and against a naive official-style loop (Python loop over time, float64).
* ``linear``: forward + backward of the linear diagonal recurrence alone at
  T = 10,000 (the reference torch loop vs scan vs numba).
* ``models`` and ``perturb`` (``batched_cases.py``): 16 models trained in one call vs
  16 torch.nn.RNN steps one after another; a perturbation curve of 36 perturbed copies
  as one vmapped batch vs one copy at a time.
* ``epoch``: one epoch of the Figure 2 training run (tanh, m = 64, 12,800 sequences,
  batch 128) through ``curse_of_memory.training.train``.

On CUDA the training steps also run at m = 256 and batch 1024.

CPU always; the same cases on CUDA when a GPU is present (cuDNN RNN, triton, scan).
Times are the median over repeats after warm-up; the variants of one group are timed
round-robin (interleaved), so load bursts on a shared machine hit them alike.
Results go to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from batched_cases import (
    ONE_AFTER_ANOTHER,
    ONE_COPY_AT_A_TIME,
    adam_step,
    model_batch_cases,
    perturbation_cases,
)
from torch import nn
from tqdm import tqdm

from curse_of_memory.kernels import available_backends, euler_recurrence
from curse_of_memory.models import ContinuousRNN
from curse_of_memory.targets import make_dataset
from curse_of_memory.training import train

SEQUENTIAL = "euler_recurrence[reference] (torch loop)"

# ---- models --------------------------------------------------------------------------


class _TorchRNN(nn.Module):
    """torch.nn.RNN (tanh, Elman) of width m with a linear readout."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.rnn(x)[0])


class _OfficialStyleRNN(nn.Module):
    """Naive float64 loop in the style of the official code (its discrete forms).

    ``h_{k+1} = h_k + dt tanh(x~_k - W h_k)`` with ``W = diag(relu(w))`` (diagonal) or
    ``Q^T diag(relu(w)) Q`` (symmetric), one Python iteration per time step.
    """

    def __init__(self, hidden_size: int, structure: str, dt: float) -> None:
        super().__init__()
        self.encoder = nn.Linear(1, hidden_size).double()
        self.decoder = nn.Linear(hidden_size, 1).double()
        self.w = nn.Parameter(torch.rand(hidden_size, dtype=torch.float64))
        self.basis = None
        if structure == "symmetric":
            q = torch.linalg.qr(torch.randn(hidden_size, hidden_size, dtype=torch.float64))[0]
            self.basis = nn.Parameter(q)
        self.dt = dt

    def _coupling(self, h: torch.Tensor) -> torch.Tensor:
        if self.basis is None:
            return h * torch.relu(self.w)
        return ((h @ self.basis.T) * torch.relu(self.w)) @ self.basis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drive = self.encoder(x.double())
        h = drive.new_zeros(drive.shape[0], drive.shape[2])
        outputs = []
        for k in range(drive.shape[1]):
            h = h + self.dt * torch.tanh(drive[:, k] - self._coupling(h))
            outputs.append(self.decoder(h))
        return torch.stack(outputs, dim=1)


# ---- timing --------------------------------------------------------------------------


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_call(step: Callable[[], None], device: torch.device) -> float:
    start = time.perf_counter()
    step()
    _synchronize(device)
    return time.perf_counter() - start


def _time_group_interleaved(
    steps: dict[str, Callable[[], None]], counts: dict[str, int], device: torch.device
) -> dict[str, list[float]]:
    """Wall times (s) of every variant of one group, measured round-robin.

    Round r times each variant that still needs a sample once, so a burst of load on
    this (shared, noisy) machine hits the variants of a group alike and the ratios stay
    meaningful. Every variant is warmed up first (compilation, allocator caches).
    """
    for name, step in steps.items():
        for _ in range(1 if counts[name] < max(counts.values()) else 2):
            step()
    _synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_index in range(max(counts.values())):
        for name, step in steps.items():
            if round_index < counts[name]:
                times[name].append(_timed_call(step, device))
    return times


def _training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One Adam step on the MSE of ``model(x)`` against ``y``."""
    return adam_step(model.parameters(), lambda: torch.mean((model(x) - y) ** 2))


def _continuous_rnn(m: int, structure: str, dt: float, backend: str) -> nn.Module:
    """tanh ContinuousRNN; dense W needs the ``direct`` parametrization."""
    parametrization = "direct" if structure == "dense" else "softplus"
    return ContinuousRNN(
        m,
        activation="tanh",
        structure=structure,
        parametrization=parametrization,
        dt=dt,
        backend=backend,
    )


def _train_cases(device: torch.device, quick: bool, backends: list[str]):
    """Yield (label, variant, make_step) for the training-step comparison."""
    # on GPU also the widths and batches of a large run: m = 256, batch 1024
    gpu = device.type == "cuda"
    sizes = [(m, batch) for m in (16, 64, 256) for batch in (128, 1024)] if gpu else []
    sizes = sizes or [(16, 128), (64, 128)]
    structures = ("diagonal", "symmetric", "dense")
    length, dt = 100, 0.1
    for structure in structures:
        for m, batch in sizes:
            group = f"train {structure} m={m} T={length} B={batch}"
            generator = torch.Generator().manual_seed(m)
            x = torch.randn(batch, length, 1, generator=generator).to(device)
            y = torch.randn(batch, length, 1, generator=generator).to(device)

            yield (
                group,
                "torch.nn.RNN",
                lambda m=m, x=x, y=y: _training_step(_TorchRNN(m).to(device), x, y),
            )
            for backend in backends:
                yield (
                    group,
                    f"ContinuousRNN[{backend}]",
                    (
                        lambda m=m, x=x, y=y, backend=backend, structure=structure: _training_step(
                            _continuous_rnn(m, structure, dt, backend).to(device), x, y
                        )
                    ),
                )
            if structure != "dense" and not (quick and m > 16) and m <= 64 and batch == 128:
                yield (
                    group,
                    "official-style loop (float64)",
                    (
                        lambda m=m, x=x, y=y, structure=structure: _training_step(
                            _OfficialStyleRNN(m, structure, dt).to(device), x.double(), y.double()
                        )
                    ),
                )


def _epoch_cases(device: torch.device, backends: list[str]):
    """One epoch of the Figure 2 training run: tanh, m = 64, 12,800 training
    sequences of length 100, batch 128 (100 steps), through ``training.train``.
    1000 epochs take 1000 times as long."""
    dataset = make_dataset(
        "pol", n=16_000, length=100, dt=0.1, dtype=torch.float32, device=device
    )  # split 0.8 / 0.1 / 0.1: 12,800 training sequences
    group = "Figure 2 epoch: tanh m=64, 12,800 sequences, batch 128"
    models = {"torch.nn.RNN": lambda: _TorchRNN(64)}
    for backend in backends:
        models[f"ContinuousRNN[{backend}]"] = lambda backend=backend: _continuous_rnn(
            64, "diagonal", 0.1, backend
        )
    for variant, build in models.items():

        def make(build=build) -> Callable[[], None]:
            model = build().to(device)

            def epoch() -> None:
                train(model, dataset, epochs=1, batch_size=128, lr=1e-3, progress=False)

            return epoch

        yield group, variant, make


def _linear_cases(device: torch.device, quick: bool, backends: list[str]):
    """Yield (label, variant, make_step): forward + backward of the linear recurrence."""
    length = 10_000
    for batch, m, dtype in ((16, 32, torch.float32), (16, 32, torch.float64)):
        group = f"linear diag T={length} B={batch} m={m} {str(dtype).removeprefix('torch.')}"
        generator = torch.Generator().manual_seed(0)
        drive = torch.randn(batch, length, m, generator=generator, dtype=dtype).to(device)
        lam = -torch.rand(m, generator=generator, dtype=dtype).to(device)
        # baseline: the reference torch loop; it iterates with unbind, so its backward is O(T)
        runners = {SEQUENTIAL: lambda d, w: euler_recurrence(d, w, 0.1, "linear", "reference")}
        for backend in backends:
            runners[f"euler_recurrence[{backend}]"] = lambda d, w, backend=backend: (
                euler_recurrence(d, w, 0.1, "linear", backend)
            )
        for variant, runner in runners.items():

            def make(runner=runner, drive=drive, lam=lam) -> Callable[[], None]:
                d = drive.clone().requires_grad_(True)
                w = lam.clone().requires_grad_(True)

                def step() -> None:
                    torch.autograd.grad(runner(d, w).sum(), (d, w))

                return step

            yield group, variant, make


# ---- driver --------------------------------------------------------------------------


def _run_device(device: torch.device, args, progress: bool) -> list[dict]:
    fast = [b for b in ("numba", "triton") if b in available_backends()]
    fast = [b for b in fast if (b == "numba") == (device.type == "cpu")]
    train_backends = ["reference", *fast]
    linear_backends = ["scan", *fast]  # plus the reference loop, as the baseline
    repeats = 5 if args.quick else args.repeats
    cases = list(_train_cases(device, args.quick, train_backends))
    cases += list(_linear_cases(device, args.quick, linear_backends))
    cases += list(model_batch_cases(device, fast, _TorchRNN))
    cases += list(_epoch_cases(device, fast))
    cases += list(perturbation_cases(device, args.quick))
    groups: dict[str, list[tuple[str, Callable]]] = {}
    for group, variant, make in cases:
        groups.setdefault(group, []).append((variant, make))
    rows = []
    for group, variants in tqdm(groups.items(), desc=str(device), disable=not progress):
        steps, counts = {}, {}
        for variant, make in variants:
            torch.manual_seed(0)
            steps[variant] = make()
            slow = (
                group.startswith("Figure 2 epoch")
                or "official" in variant
                or "reference" in variant
                or variant in (SEQUENTIAL, ONE_AFTER_ANOTHER, ONE_COPY_AT_A_TIME)
            )
            # slow baselines: fewer repeats (still >= 3) to keep the run short
            counts[variant] = max(3, repeats // 3) if slow else repeats
        times = _time_group_interleaved(steps, counts, device)
        for variant, samples in times.items():
            rows.append(
                {
                    "device": str(device),
                    "group": group,
                    "variant": variant,
                    "median_s": statistics.median(samples),
                    "times_s": samples,
                }
            )
    _add_ratios(rows)
    return rows


def _add_ratios(rows: list[dict]) -> None:
    """Speed-up of every row vs the baselines of its group (same run)."""
    for row in rows:
        peers = {r["variant"]: r["median_s"] for r in rows if r["group"] == row["group"]}
        for name, key in (
            ("torch.nn.RNN", "speedup_vs_torch_rnn"),
            ("official-style loop (float64)", "speedup_vs_official_loop"),
            (SEQUENTIAL, "speedup_vs_sequential_loop"),
            (ONE_AFTER_ANOTHER, "speedup_vs_models_one_after_another"),
            (ONE_COPY_AT_A_TIME, "speedup_vs_one_copy_at_a_time"),
        ):
            if name in peers:
                row[key] = peers[name] / row["median_s"]


def _print_table(rows: list[dict]) -> None:
    group = None
    for row in rows:
        if row["group"] != group:
            group = row["group"]
            print(f"\n[{row['device']}] {group}")
            print(f"  {'variant':40s} {'median ms':>10s} {'vs nn.RNN':>10s} {'vs naive':>10s}")
        ratio_rnn = row.get("speedup_vs_torch_rnn")
        ratio_naive = next(
            (
                row[key]
                for key in (
                    "speedup_vs_official_loop",
                    "speedup_vs_sequential_loop",
                    "speedup_vs_models_one_after_another",
                    "speedup_vs_one_copy_at_a_time",
                )
                if key in row
            ),
            None,
        )
        fmt = lambda r: f"{r:9.2f}x" if r is not None else f"{'':10s}"  # noqa: E731
        print(
            f"  {row['variant']:40s} {1e3 * row['median_s']:10.2f} {fmt(ratio_rnn)} "
            f"{fmt(ratio_naive)}"
        )


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(payload, f, indent=1)
    os.replace(f.name, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and cases")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--device",
        choices=("all", "cpu", "cuda"),
        default="all",
        help="where to run: all (CPU, and CUDA when present), cpu or cuda only",
    )
    given = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(given)
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (valid choices: all, cpu)")

    torch.set_num_threads(args.threads)
    if "numba" in available_backends():
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    devices = [torch.device("cpu")] if args.device in ("all", "cpu") else []
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    rows = []
    for device in devices:
        rows += _run_device(device, args, progress=not args.no_progress)
    _print_table(rows)
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/run.py", *given]),
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "rows": rows,
    }
    _write_json(args.out, payload)
    print(f"\nthreads={args.threads}; results written to {args.out}")


if __name__ == "__main__":
    main()
