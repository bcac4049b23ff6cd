"""``curse-of-memory reproduce``: run one of the paper's experiments into a results folder."""

from __future__ import annotations

import argparse
import shlex
import sys

from curse_of_memory.cli._common import parse_key_values

HELP = "reproduce a figure/table of the paper (files + claims ledger entry)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help=HELP,
        description=(
            "Run an experiment and write results/<experiment>/<run-id>/. Its units run "
            "in this process, on a local pool (--jobs) or on a Dask cluster (--executor dask)."
        ),
    )
    parser.add_argument("experiment", nargs="?", help="experiment name (see --list)")
    parser.add_argument("--list", action="store_true", help="list experiments and presets")
    parser.add_argument("--preset", default="quick", help="quick (CPU, seconds) or paper")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change one config field, e.g. --set samples=3 or --set widths=2,4,8 "
        "(repeatable; recorded in config.json)",
    )
    parser.add_argument("--out", default="results", help="results root folder")
    parser.add_argument("--run-id", default=None, help="run folder name (default: timestamp)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run --run-id: reuse its finished units, rerun missing/failed ones",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes on this machine (0 = one per core; default 1, or one per "
        "core for Dask's local cluster)",
    )
    parser.add_argument(
        "--executor",
        default=None,
        metavar="ENGINE",
        help="local (default) or dask (needs pip install 'curse-of-memory[cluster]')",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="Dask scheduler address, e.g. tcp://10.0.0.1:8786 (default: a local cluster)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="where units write mid-work checkpoints (shared storage on a cluster; "
        "default: checkpoints/ inside the run folder)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _resume_command(args: argparse.Namespace, run_id: str) -> str:
    """The exact command that continues this run."""
    command = ["curse-of-memory", "reproduce", args.experiment, "--preset", args.preset]
    for item in args.set or ():
        command += ["--set", item]
    command += ["--out", args.out, "--run-id", run_id, "--resume"]
    for option in ("jobs", "executor", "address", "checkpoint_dir"):
        value = getattr(args, option)
        if value is not None:
            command += [f"--{option.replace('_', '-')}", str(value)]
    if args.quiet:
        command.append("--quiet")
    return shlex.join(command)


def _runs_hint(args: argparse.Namespace) -> str:
    """``"; runs of NAME under OUT: a, b"`` (the latest few), or ``""`` when none."""
    from pathlib import Path

    folder = Path(args.out) / args.experiment
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return f"; runs of {args.experiment} under {args.out}: {', '.join(runs[-5:])}" if runs else ""


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from curse_of_memory._outputs import prepare_output_folder
    from curse_of_memory._validation import check_choice
    from curse_of_memory.experiments import (
        EXPERIMENTS,
        MissingExtraError,
        RunBusyError,
        RunExistsError,
        UnitsFailed,
        open_run,
    )

    if args.list:
        for name, module in EXPERIMENTS.items():
            presets = ", ".join(module.PRESETS)
            print(f"{name:8s} {module.DESCRIPTION}  [presets: {presets}]")
        return 0
    if args.experiment is None:
        raise ValueError(f"give an experiment name; valid: {', '.join(sorted(EXPERIMENTS))}")
    check_choice("experiment", args.experiment, EXPERIMENTS)
    if args.resume and args.run_id is None:
        raise ValueError(f"--resume needs --run-id (the run folder's name){_runs_hint(args)}")
    prepare_output_folder(args.out, "--out")
    try:
        run = open_run(
            args.experiment,
            preset=args.preset,
            out_dir=args.out,
            run_id=args.run_id,
            resume=args.resume,
            progress=not args.quiet,
            overrides=parse_key_values(args.set, option="--set"),
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
            checkpoint_dir=args.checkpoint_dir,
            log=_note,
        )
    except RunExistsError as err:
        raise ValueError(
            f"{err.path} already exists; pass --resume to continue it, or choose another --run-id"
        ) from None
    except (RunBusyError, MissingExtraError) as err:
        raise ValueError(str(err)) from None
    with run:
        try:
            run_dir = run.execute()
        except KeyboardInterrupt:
            _note(
                f"interrupted; finished units are saved in {run.run_dir}. Continue with:\n"
                f"  {_resume_command(args, run.run_id)}"
            )
            return 130
        except UnitsFailed as err:
            for failure in err.failures:
                _note(f"FAILED  {failure.key}: {failure.error}")
            _note(
                f"{len(err.failures)} of {err.total} units failed; tracebacks in "
                f"{err.run_dir / 'failures.json'}. The other units are saved; "
                f"rerun only the failed ones with:\n  {_resume_command(args, run.run_id)}"
            )
            return 1
    import json

    claims = json.loads((run_dir / "claims.json").read_text(encoding="utf-8"))
    for claim in claims:
        mark = "PASS" if claim["passed"] else "FAIL"
        print(f"{mark}  {claim['id']}: {claim['statement']}")
    print(f"results written to {run_dir}")
    return 0
