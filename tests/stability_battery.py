"""Synthetic perturbation-curve families whose limit E(beta) is known in closed form.

Each family gives E_m(beta) for any width m; its limit E(beta) = limsup_m E_m(beta) is
either continuous at 0 (stable, paper Def 3.5) or not (unstable). The battery runs
:func:`~curse_of_memory.analysis.stability_verdict` on every family x width set x beta grid
x noise level and prints the accuracy table kept in ``docs/instruments.md``::

    python tests/stability_battery.py

Noise: every point is multiplied by ``exp(sigma * N(0, 1))`` (independently), then each
curve is made non-decreasing by a running maximum, as a sampled sup is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from curse_of_memory.analysis import PerturbationCurve, paper_betas, stability_verdict

Family = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Case:
    """One family: ``errors(m, betas)``, whether its limit is continuous at 0, and why."""

    name: str
    group: str
    stable: bool
    errors: Family
    limit: str
    resolution: float = 0.0


def _jump(size: float, scale: float, power: float) -> Family:
    """0.1/m + J (1 - exp(-beta m^power / scale)): limit J for every beta > 0, E(0) = 0."""
    return lambda m, b: 0.1 / m + size * (1 - np.exp(-b * m**power / scale))


CASES = [
    # continuous limits of several shapes (stable)
    Case("1e-6/m + beta", "continuous", True, lambda m, b: 1e-6 / m + b, "beta"),
    Case("0.1/m + beta", "continuous", True, lambda m, b: 0.1 / m + b, "beta"),
    Case(
        "0.1/m + 0.3 sqrt(beta)",
        "continuous",
        True,
        lambda m, b: 0.1 / m + 0.3 * b**0.5,
        "0.3 sqrt(beta)",
    ),
    Case("0.1/m + 10 beta^2", "continuous", True, lambda m, b: 0.1 / m + 10 * b**2, "10 beta^2"),
    Case(
        "0.3 m^-2 + (beta/0.07)^4 0.4",
        "continuous",
        True,
        lambda m, b: 0.3 / m**2 + 0.4 * (b / 0.07) ** 4,
        "0.4 (beta/0.07)^4 (curves meet at 0.07)",
    ),
    Case(
        "0.1/m + beta (1 + 1/m)", "continuous", True, lambda m, b: 0.1 / m + b * (1 + 1 / m), "beta"
    ),
    Case(
        "0.1/m + beta (2 - 1/m)",
        "continuous",
        True,
        lambda m, b: 0.1 / m + b * (2 - 1 / m),
        "2 beta (crossings fixed at 0.1)",
    ),
    Case(
        "1e-15 + 0.5 tanh(beta / 0.01)",
        "continuous",
        True,
        lambda m, b: 1e-15 * (1 + 0 * m) + 0.5 * np.tanh(b / 0.01),
        "0.5 tanh(100 beta)",
        1e-12,
    ),
    Case(
        "0.1/m + 0.5 tanh(beta / 0.01)",
        "continuous",
        True,
        lambda m, b: 0.1 / m + 0.5 * np.tanh(b / 0.01),
        "0.5 tanh(100 beta)",
    ),
    Case(
        "0.1/m + exp(100 beta) - 1",
        "continuous",
        True,
        lambda m, b: 0.1 / m + np.expm1(np.minimum(100 * b, 700)),
        "e^{100 beta} - 1",
    ),
    # curves that merge into a common continuous limit (the sup of a residual and a
    # perturbation effect): the excess grows with m only because E_m(0) falls (stable)
    Case("max(0.1/m, beta)", "continuous", True, lambda m, b: np.maximum(0.1 / m, b), "beta"),
    Case("hypot(0.1/m, beta)", "continuous", True, lambda m, b: np.hypot(0.1 / m, b), "beta"),
    Case(
        "max(0.3/m^2, 0.4 (beta/0.07)^2)",
        "continuous",
        True,
        lambda m, b: np.maximum(0.3 / m**2, 0.4 * (b / 0.07) ** 2),
        "0.4 (beta/0.07)^2 (curves meet at 0.07)",
    ),
    Case(
        "max(1/m^3, 0.3 sqrt(beta))",
        "continuous",
        True,
        lambda m, b: np.maximum(1 / m**3, 0.3 * np.sqrt(b)),
        "0.3 sqrt(beta)",
    ),
    # infinite limit for every beta > 0 (unstable)
    Case("0.1/m + sqrt(m) beta", "infinite", False, lambda m, b: 0.1 / m + m**0.5 * b, "inf"),
    Case("0.1/m + m beta", "infinite", False, lambda m, b: 0.1 / m + m * b, "inf"),
    Case("0.1/m + m^2 beta", "infinite", False, lambda m, b: 0.1 / m + m**2 * b, "inf"),
    Case(
        "0.1/m + log(1 + m) beta", "infinite", False, lambda m, b: 0.1 / m + np.log1p(m) * b, "inf"
    ),
    Case(
        "0.1/m + beta e^m",
        "infinite",
        False,
        lambda m, b: 0.1 / m + b * np.exp(np.minimum(m, 700)),
        "inf",
    ),
    # jumps at 0 of several sizes (unstable)
    Case("jump 0.01, scale m^-2", "jump", False, _jump(0.01, 1.0, 2), "0.01"),
    Case("jump 0.1, scale m^-2", "jump", False, _jump(0.1, 1.0, 2), "0.1"),
    Case("jump 1, scale m^-2", "jump", False, _jump(1.0, 1.0, 2), "1"),
    Case("jump 10, scale m^-2", "jump", False, _jump(10.0, 1.0, 2), "10"),
    Case("jump 1, scale 1/m", "jump", False, _jump(1.0, 1.0, 1), "1"),
    Case("jump 1, scale m^-3", "jump", False, _jump(1.0, 1.0, 3), "1"),
    Case("jump 1 at every width", "jump", False, lambda m, b: 0.1 / m + 1.0 * (b > 0), "1"),
    Case("jump 0.3 at every width", "jump", False, lambda m, b: 1e-3 / m + 0.3 * (b > 0), "0.3"),
]

WIDTH_SETS = {
    "3 widths (4, 8, 16)": (4, 8, 16),
    "5 widths (2..14)": (2, 4, 6, 8, 14),
    "8 widths (2..256)": (2, 4, 8, 16, 32, 64, 128, 256),
}
GRIDS = {"linear": paper_betas("linear"), "official": paper_betas("official")}
NOISE = (0.0, 0.05, 0.2)
SEEDS = 3


def curves(case: Case, widths, betas: np.ndarray, sigma: float, seed: int) -> dict:
    """width -> PerturbationCurve of ``case``, with multiplicative noise ``sigma``."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in widths:
        with np.errstate(over="ignore"):
            errors = np.asarray(case.errors(m, betas), dtype=np.float64)
        if sigma > 0:
            errors = errors * np.exp(sigma * rng.standard_normal(errors.shape))
        errors = np.maximum.accumulate(errors)
        out[m] = PerturbationCurve(betas, errors, errors[:, None], width=m)
    return out


def run_battery(**verdict_options) -> list[dict]:
    """Every case x width set x grid x noise x seed (one seed without noise): one row each."""
    rows = []
    for case, (wname, widths), (gname, betas), sigma in itertools.product(
        CASES, WIDTH_SETS.items(), GRIDS.items(), NOISE
    ):
        for seed in range(SEEDS if sigma > 0 else 1):
            data = curves(case, widths, betas, sigma, seed)
            verdict = stability_verdict(data, resolution=case.resolution, **verdict_options)
            rows.append(
                {
                    "case": case.name,
                    "group": case.group,
                    "widths": wname,
                    "grid": gname,
                    "noise": sigma,
                    "expected": case.stable,
                    "stable": verdict.stable,
                    "correct": verdict.stable == case.stable,
                }
            )
    return rows


def accuracy_table(rows: list[dict]) -> str:
    """Markdown table: accuracy per family group and noise level, and per width set."""
    lines = ["| family | noise 0 | noise 0.05 | noise 0.2 |", "|---|---|---|---|"]

    def cell(selected: list[dict]) -> str:
        right = sum(r["correct"] for r in selected)
        return f"{right}/{len(selected)}"

    groups = {"continuous": "continuous limit (stable)", "infinite": "infinite limit (unstable)",
              "jump": "jump at 0 (unstable)"}  # fmt: skip
    for key, label in groups.items():
        cells = [cell([r for r in rows if r["group"] == key and r["noise"] == s]) for s in NOISE]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for wname in WIDTH_SETS:
        cells = [cell([r for r in rows if r["widths"] == wname and r["noise"] == s]) for s in NOISE]
        lines.append(f"| all, {wname} | " + " | ".join(cells) + " |")
    cells = [cell([r for r in rows if r["noise"] == s]) for s in NOISE]
    lines.append("| **all** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures(rows: list[dict]) -> list[str]:
    """One line per wrong verdict."""
    return [
        f"{r['case']} | {r['widths']} | {r['grid']} | noise {r['noise']}: "
        f"expected {'stable' if r['expected'] else 'unstable'}"
        for r in rows
        if not r["correct"]
    ]


if __name__ == "__main__":
    results = run_battery()
    print(accuracy_table(results))
    wrong = failures(results)
    print(f"\n{len(wrong)} wrong verdicts of {len(results)}:")
    print("\n".join(sorted(set(wrong))))
