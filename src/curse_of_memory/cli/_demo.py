"""``curse-of-memory demo``: the main job, on CPU in well under a minute.

1. Memory functions (Heaviside inputs, paper eq 7; sup over |x|_inf <= 1) of an
   exponential-memory target (rho = 0.9^t), a polynomial-memory target
   (rho = 1/(t+1)^1.5) and a random tanh RNN (torch.nn.RNN), their decay fits, one
   log-log figure.
2. A plain-language verdict in the terms of Theorem 3.9 (paper eqs 16-17).
3. When the stable-approximation experiments are available: the headline of
   Figure 1 (stable vs unstable) and Figure 4 (reparameterization fixes it).
"""

from __future__ import annotations

import argparse
import math
import time

DEMO_LENGTH = 1000  # time steps; with dt = 1 the polynomial law is visible over 3 decades
DEMO_DT = 1.0
HELP = "the main job: memory of short/long-memory targets and a random RNN, with verdicts"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=HELP,
        description=(
            "Measure the memory functions of an exponential and a polynomial target and of a "
            "random RNN, fit their decay laws, write one figure and print a verdict; then the "
            "headlines of the paper's Figures 1 and 4 (quick presets)."
        ),
    )
    parser.add_argument(
        "--out",
        default="results/demo",
        help="folder for the figure, created if missing (results/demo)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random RNN (0)")
    parser.add_argument(
        "--skip-stability",
        action="store_true",
        help="only the memory part (skip the Figure 1 / Figure 4 headlines)",
    )
    parser.set_defaults(func=run)


def _subjects(seed: int) -> dict:
    """The three models whose memory the demo measures."""
    import torch

    from curse_of_memory.targets import LinearFunctional

    torch.manual_seed(seed)
    random_rnn = torch.nn.RNN(1, 16, batch_first=True, nonlinearity="tanh")
    return {
        "target rho=0.9^t": LinearFunctional.named("exp", rate=-math.log(0.9)),
        "target rho=1/(t+1)^1.5": LinearFunctional.named("pol", power=1.5, scale=1.0),
        "random tanh RNN (m=16)": random_rnn,
    }


def run(args: argparse.Namespace) -> int:
    from curse_of_memory._outputs import prepare_output_folder
    from curse_of_memory.analysis import fit_decay, memory_function
    from curse_of_memory.cli._verdicts import verdict_words
    from curse_of_memory.plotting import plot_memory_functions, save_figure

    start = time.perf_counter()
    out = prepare_output_folder(args.out, "--out")
    print("== 1. Memory functions (Heaviside inputs, Definition 3.1) ==")
    memories, fits = {}, {}
    for label, subject in _subjects(args.seed).items():
        memories[label] = memory_function(subject, DEMO_LENGTH, DEMO_DT, kind="heaviside")
        fits[label] = fit_decay(memories[label])
        print(f"  {label}: {fits[label].summary()}")
    print(f"  (measured: {next(iter(memories.values())).describe()})")
    figure = save_figure(plot_memory_functions(memories, fits), out / "memory_functions.png")
    print(f"  figure: {figure}")

    print("\n== 2. Verdict ==")
    for label, fit in fits.items():
        print(f"  {label}: {verdict_words(fit)}")

    if not args.skip_stability:
        print("\n== 3. Stable approximation (paper Figures 1 and 4, quick presets) ==")
        from curse_of_memory.experiments import headline

        print(headline())
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
    return 0
