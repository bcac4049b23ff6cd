"""``curse-of-memory ledger``: the paper's claims and our latest verdicts, as a table."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "table of the paper's claims and the latest verdict of each"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ledger",
        help=HELP,
        description=(
            "Read the latest complete run of every experiment under --out. A run whose "
            "DONE or claims.json is damaged is reported as unreadable (exit status 1); "
            "the others are listed."
        ),
    )
    parser.add_argument("--out", default="results", help="results root folder")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {claims, unreadable, passed, total} as JSON (for scripts)",
    )
    parser.set_defaults(func=run)


def _print_table(rows: list[dict]) -> None:
    header = ("experiment", "run", "preset", "verdict", "claim", "statement")
    table = [
        (
            r["experiment"],
            r["run_id"],
            r["preset"],
            "PASS" if r["passed"] else "FAIL",
            r["id"],
            r["statement"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, str(row[-1])]))


def run(args: argparse.Namespace) -> int:
    from curse_of_memory.experiments import read_ledger

    ledger = read_ledger(args.out)
    rows = ledger.claims
    passed = sum(r["passed"] for r in rows)
    if args.json:
        report = {
            "claims": rows,
            "unreadable": ledger.unreadable,
            "passed": passed,
            "total": len(rows),
        }
        print(json.dumps(report, indent=2))
    elif rows:
        _print_table(rows)
        print(f"\n{passed}/{len(rows)} claims reproduced")
    elif not ledger.unreadable:
        print(f"no complete runs under {args.out}; try: curse-of-memory reproduce fig1")
    if not args.json:
        for entry in ledger.unreadable:
            print(f"unreadable run {entry['run']}: {entry['error']}", file=sys.stderr)
    return 1 if ledger.unreadable else 0
