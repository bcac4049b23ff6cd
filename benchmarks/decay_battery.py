"""Accuracy of ``fit_decay`` on the battery of curves with known laws.

``python benchmarks/decay_battery.py`` prints a markdown table (one row per curve of
``curse_of_memory.analysis.decay.battery``: expected and found law, true and fitted
rate or exponent, margin) and the accuracy; ``--write docs/instruments.md`` also
replaces the table between the ``decay-battery`` markers of that file (atomically).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from curse_of_memory._atomic import atomic_write_text
from curse_of_memory.analysis.decay import fit_decay
from curse_of_memory.analysis.decay.battery import KnownCurve, known_curves

START, END = "<!-- decay-battery:start -->", "<!-- decay-battery:end -->"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _row(curve: KnownCurve) -> tuple[str, bool]:
    fit = fit_decay(curve.curve())
    found = fit.rate if fit.law == "exponential" else fit.exponent
    law_ok = fit.law == curve.law
    value_ok = curve.parameter is None or (
        found is not None and abs(found / curve.parameter - 1) <= curve.rel_tol
    )
    ok = law_ok and value_ok
    margin = "" if fit.margin is None else f"{fit.margin:.3g}"
    name = curve.name.replace("|", "\\|")  # a literal | inside a markdown cell
    cells = [name, curve.group, curve.law, fit.law, _number(curve.parameter), _number(found),
             margin, "yes" if ok else "**no**"]  # fmt: skip
    return "| " + " | ".join(cells) + " |", ok


def table() -> str:
    """The markdown table and a line with the accuracy."""
    header = (
        "| curve | kind | expected | found | true rate / exponent | fitted | margin | right |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    rows, right = [], 0
    curves = known_curves()
    for curve in curves:
        row, ok = _row(curve)
        rows.append(row)
        right += ok
    accuracy = f"{right} of {len(curves)} curves get the expected law (and parameter)."
    return "\n".join([header, *rows, "", accuracy])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="replace the table in this file")
    args = parser.parse_args()
    text = table()
    print(text)
    if args.write:
        path = Path(args.write)
        old = path.read_text(encoding="utf-8")
        block = f"{START}\n{text}\n{END}"
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
        if not pattern.search(old):
            raise SystemExit(f"{path} has no {START} ... {END} block to replace")
        atomic_write_text(path, pattern.sub(lambda _: block, old))
        print(f"table written to {path}")


if __name__ == "__main__":
    main()
