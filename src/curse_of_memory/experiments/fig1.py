"""Figure 1: linear functionals by linear RNNs, exp vs pol memory (SPEC 7.1, Appendix D).

Exponential sums are fitted by least squares with eigenvalues -a k, a = -ln 0.9
(:func:`~curse_of_memory.analysis.linear_theory.fit_exponential_sum`), then perturbed.
Paper: (a) rho = 0.9^t has a continuous E(beta) -- stable; (b) rho = 1/(t+1)^1.1: the
small-error radius shrinks and the curve crossings shift left as m grows -- unstable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.analysis.linear_theory import (
    DEFAULT_DECAY_RATE,
    PAPER_BETAS,
    PAPER_SAMPLES,
    fit_exponential_sum,
)
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._io import StepStore
from curse_of_memory.experiments._linear import (
    QUICK_SWEEP,
    TARGET_LABELS,
    check_widths,
    plot_panels,
    sweep_panel,
    target_scale,
    unperturbed_errors,
)

DESCRIPTION = "Fig 1: least-squares linear RNN fits of 0.9^t (stable) and 1/(t+1)^1.1 (unstable)"


@dataclass
class Config:
    """Settings of Figure 1 (defaults: the paper's, SPEC 7.1)."""

    widths: tuple[int, ...] = (2, 4, 6, 8, 14)
    betas: tuple[float, ...] = tuple(float(b) for b in PAPER_BETAS)
    samples: int = PAPER_SAMPLES
    norm: str = "inf"
    error: str = "sup"
    decay_rate: float = DEFAULT_DECAY_RATE
    seed: int = 0
    rel_tol: float = 10.0
    abs_tol_fraction: float = 0.1  # error floor: 10% of the target's size
    shrink_factor: float = 4.0
    targets: tuple[str, ...] = field(default=("exp", "pol"))

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        check_widths(self.widths)
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) < 2 or self.betas[0] != 0 or np.any(np.diff(self.betas) <= 0):
            raise ValueError("betas must start at 0 and be strictly ascending (>= 2 values)")
        check_positive_int("samples", self.samples)
        check_choice("norm", self.norm, ("inf", "2"))
        check_choice("error", self.error, ("sup", "l1"))
        check_positive_float("decay_rate", self.decay_rate)
        check_nonnegative_int("seed", self.seed)
        self.targets = tuple(self.targets)
        for target in self.targets:
            check_choice("target", target, TARGET_LABELS)


PRESETS: dict[str, Config] = {
    "quick": Config(**QUICK_SWEEP),
    "paper": Config(),
}


def run(config: Config, progress: bool = True, store: StepStore | None = None) -> dict:
    """Fit + perturb every (target, width); returns plain JSON-able results."""
    store = StepStore() if store is None else store
    panels = {}
    for target in config.targets:

        def fit(width: int, target: str = target):
            return fit_exponential_sum(target, width, decay_rate=config.decay_rate)

        panels[target] = sweep_panel(target, target, fit, config, store, progress)
    return {"experiment": "fig1", "panels": panels}


def plot(results: dict):
    """The two panels of Figure 1."""
    titles = {k: f"({chr(97 + i)}) {TARGET_LABELS[k]}" for i, k in enumerate(results["panels"])}
    return plot_panels(results, titles)


def claims(results: dict) -> list[Claim]:
    """Check the paper's three statements about Figure 1."""
    panels = results["panels"]
    out = []
    if "exp" in panels:
        verdict = panels["exp"]["verdict"]
        out.append(
            Claim(
                "fig1.exp_stable",
                "E(beta) is continuous for exponential memory 0.9^t: stable approximation",
                verdict["stable"],
                {"beta0": verdict["beta0"], "radii": verdict["radii"], "widths": verdict["widths"]},
            )
        )
    if "pol" in panels:
        verdict = panels["pol"]["verdict"]
        radii = verdict["radii"]
        shrinks = bool(radii[-1] < radii[0] and radii[-1] <= min(radii))
        out.append(
            Claim(
                "fig1.pol_unstable",
                "polynomial memory 1/(t+1)^1.1: the small-error radius shrinks and the curve "
                "crossings shift left as m grows (unstable)",
                bool(shrinks and not verdict["stable"]),
                {
                    "radii": radii,
                    "widths": verdict["widths"],
                    "tolerance": verdict["tolerance"],
                    "continuous_at_zero": verdict["continuous_at_zero"],
                },
            )
        )
    numbers, passed = {}, True
    for target, panel in panels.items():
        e0 = unperturbed_errors(panel)
        scale = target_scale(target, panel["curves"][0]["meta"]["error"])
        # exact representation (exp) or decreasing error below 5% of the target (pol)
        ok = (
            e0[-1] <= 1e-8 * scale
            if target == "exp"
            else (e0[-1] < e0[0] and e0[-1] <= 0.05 * scale)
        )
        numbers[target] = {"unperturbed_errors": e0, "target_scale": scale}
        passed = passed and bool(ok)
    out.append(
        Claim(
            "fig1.approximation",
            "E_m(0) is small for both targets (approximation is achieved; it improves with m)",
            passed,
            numbers,
        )
    )
    return out


def summary(results: dict) -> list[str]:
    """One plain-language line per target."""
    return [
        f"{TARGET_LABELS[k].split(' = ')[1]}: {p['verdict']['verdict']}"
        for k, p in results["panels"].items()
    ]
