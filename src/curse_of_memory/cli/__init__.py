"""The ``curse-of-memory`` command line.

Each subcommand lives in its own module ``curse_of_memory.cli._<name>`` that defines
``HELP`` (one line) and ``register(subparsers)``; ``register`` adds the parser and
sets ``func`` to the function that runs it (``func(args) -> int`` exit code).

Start-up stays fast: the subcommand modules import nothing heavy at import time, and
only the subcommand being run registers its full arguments (their help lists the
valid names, read from the library's registries, which imports torch).

Errors: bad input (``ValueError``/``TypeError``, a missing input file) prints one line
and exits with status 2; a filesystem failure while writing (``OSError``) prints one
line naming the file and exits with status 1; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Sequence

# Order in which subcommands appear in --help.
SUBCOMMANDS: list[str] = ["demo", "memory", "repetition", "train", "reproduce", "ledger"]


def build_parser(full: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser.

    ``full``: subcommands registered with all their arguments (default: every one);
    the others are listed by name and one-line help only.
    """
    parser = argparse.ArgumentParser(
        prog="curse-of-memory",
        description=(
            "Measure the memory of sequence models, test stable approximation and train "
            "stably reparameterised RNNs (Wang, Li & Li, ICLR 2024)."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    full = SUBCOMMANDS if full is None else set(full)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"curse_of_memory.cli._{name}")
        if name in full:
            module.register(subparsers)
        else:
            subparsers.add_parser(name, help=module.HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(full=[command] if command in SUBCOMMANDS else []).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        # Bad input: a clear one-line message and exit status 2, no traceback.
        _print_error(args.command, err)
        return 2
    except OSError as err:
        # The filesystem refused a write (read-only, full, ...): what and where, one line.
        _print_error(args.command, err)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _print_error(command: str, err: BaseException) -> None:
    print(f"curse-of-memory {command}: error: {_one_line(err)}", file=sys.stderr)


def _one_line(err: BaseException) -> str:
    """The error as one line; an ``OSError`` from the system names its file."""
    if isinstance(err, OSError) and type(err).__str__ is OSError.__str__ and err.strerror:
        where = f"{err.filename!r}: " if err.filename else ""
        return f"{where}{err.strerror}"
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())
