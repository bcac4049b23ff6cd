"""``curse-of-memory ledger``: the paper's claims and our latest verdicts, as a table."""

from __future__ import annotations

import argparse

HELP = "table of the paper's claims and the latest verdict of each"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ledger",
        help=HELP,
        description="Read the latest complete run of every experiment under --out.",
    )
    parser.add_argument("--out", default="results", help="results root folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from curse_of_memory.experiments import latest_claims

    rows = latest_claims(args.out)
    if not rows:
        print(f"no complete runs under {args.out}; try: curse-of-memory reproduce fig1")
        return 0
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
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    passed = sum(r["passed"] for r in rows)
    print(f"\n{passed}/{len(rows)} claims reproduced")
    return 0
