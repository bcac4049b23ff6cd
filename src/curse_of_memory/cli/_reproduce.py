"""``curse-of-memory reproduce``: run one of the paper's experiments into a results folder."""

from __future__ import annotations

import argparse

HELP = "reproduce a figure/table of the paper (files + claims ledger entry)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help=HELP,
        description="Run an experiment and write results/<experiment>/<run-id>/.",
    )
    parser.add_argument("experiment", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--list", action="store_true", help="list experiments and presets")
    parser.add_argument("--preset", default="quick", help="quick (CPU, seconds) or paper")
    parser.add_argument("--out", default="results", help="results root folder")
    parser.add_argument("--run-id", default=None, help="run folder name (default: timestamp)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from curse_of_memory._outputs import prepare_output_folder
    from curse_of_memory._validation import check_choice
    from curse_of_memory.experiments import EXPERIMENTS, run_experiment

    if args.list:
        for name, module in EXPERIMENTS.items():
            presets = ", ".join(module.PRESETS)
            print(f"{name:8s} {module.DESCRIPTION}  [presets: {presets}]")
        return 0
    if args.experiment is None:
        raise ValueError(f"give an experiment name; valid: {', '.join(sorted(EXPERIMENTS))}")
    check_choice("experiment", args.experiment, EXPERIMENTS)
    prepare_output_folder(args.out, "--out")
    run_dir = run_experiment(
        args.experiment,
        preset=args.preset,
        out_dir=args.out,
        run_id=args.run_id,
        resume=args.resume,
        progress=not args.quiet,
    )
    import json

    claims = json.loads((run_dir / "claims.json").read_text(encoding="utf-8"))
    for claim in claims:
        mark = "PASS" if claim["passed"] else "FAIL"
        print(f"{mark}  {claim['id']}: {claim['statement']}")
    print(f"results written to {run_dir}")
    return 0
