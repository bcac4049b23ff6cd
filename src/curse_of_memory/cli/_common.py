"""Small helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable, Sequence


def choices_text(names: Iterable[str]) -> str:
    """Valid names for a --help text: ``"a, b, c"`` (sorted, as in the error messages)."""
    return ", ".join(sorted(names))


def parse_key_values(items: Sequence[str] | None, option: str = "--target-param") -> dict:
    """Turn ``["power=1.5", "scale=0.1"]`` into ``{"power": 1.5, "scale": 0.1}``.

    Values are read as Python literals (numbers, booleans) and fall back to strings.
    """
    params: dict = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            params[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            params[key] = raw
    return params


def add_target_arguments(parser: argparse.ArgumentParser, default: str | None = "pol") -> None:
    """``--target NAME`` and repeatable ``--target-param KEY=VALUE``."""
    from curse_of_memory.targets import NAMED_MEMORIES

    parser.add_argument(
        "--target",
        default=default,
        help=f"named memory rho of a linear functional target: {choices_text(NAMED_MEMORIES)}",
    )
    parser.add_argument(
        "--target-param",
        action="append",
        metavar="KEY=VALUE",
        help="parameter of the named memory, e.g. power=1.5 (repeatable)",
    )


def build_target(args: argparse.Namespace):
    """The ``LinearFunctional`` named by ``--target`` / ``--target-param``."""
    from curse_of_memory.targets import LinearFunctional

    return LinearFunctional.named(args.target, **parse_key_values(args.target_param))
