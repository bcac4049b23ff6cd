"""The ``curse-of-memory`` command line.

Each subcommand lives in its own module ``curse_of_memory.cli._<name>`` that
defines ``register(subparsers)``; it adds its parser and sets ``func`` to the
function that runs it (``func(args) -> int`` exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order in which subcommands appear in --help.
SUBCOMMANDS: list[str] = ["demo", "memory", "repetition", "train", "reproduce", "ledger"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="curse-of-memory",
        description=(
            "Measure the memory of sequence models, test stable approximation and train "
            "stably reparameterised RNNs (Wang, Li & Li, ICLR 2024)."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"curse_of_memory.cli._{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        # Bad input: a clear one-line message and exit status 2, no traceback.
        print(f"curse-of-memory {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
