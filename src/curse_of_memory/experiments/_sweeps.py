"""Student sweeps as experiment panels: their units, assembly, plots and shared claims."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from curse_of_memory._validation import check_choice, check_positive_float
from curse_of_memory.analysis import PerturbationCurve
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._student_targets import target_label
from curse_of_memory.experiments._students import (
    StudentProtocol,
    check_widths,
    judge_stability,
    protocol_params,
    train_student,
)
from curse_of_memory.experiments._units import Unit
from curse_of_memory.models import PARAMETRIZATIONS, STABLE_PARAMETRIZATIONS

# Activations of the nonlinear figures (paper Definition 3.8 covers tanh and hardtanh;
# Fig 7 adds ReLU).
NONLINEAR_ACTIVATIONS = ("tanh", "hardtanh", "relu")

# "Approximation is achieved" (paper eq 12, on finitely many widths), fixed before any
# run: the largest width's test error is at most half the smallest width's (a factor 2
# over the sweep is more than the seed-to-seed spread of a converged loss) and at most
# 1% of the output variance (R^2 >= 0.99; an untrained student sits near 100%).
APPROXIMATION_IMPROVEMENT = 2.0
APPROXIMATION_RELATIVE_ERROR = 1e-2


@dataclass(frozen=True)
class Sweep:
    """One panel: students of every width on one target, one activation, one parametrization.

    ``key`` names the panel and prefixes its unit keys (``"{key}/m{width}/seed{i}"``).
    """

    key: str
    target: dict
    activation: str
    parametrization: str

    @property
    def title(self) -> str:
        """Target, activation and parametrization in words."""
        return f"{target_label(self.target)}\n{self.activation} RNN, {self.parametrization} W"


@dataclass
class PolynomialSweepConfig(StudentProtocol):
    """Student protocol plus widths and the polynomial target 1/(1 + scale t)^power.

    Defaults: the paper's rho(t) = 1/(t+1)^1.5 (paper Appendix D) and widths 8..64.
    """

    widths: tuple[int, ...] = (8, 16, 32, 64)
    target_power: float = 1.5
    target_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.widths = check_widths(self.widths)
        check_positive_float("target_power", self.target_power)
        check_positive_float("target_scale", self.target_scale)

    @property
    def target(self) -> dict:
        """The target description (see :func:`~._student_targets.check_target`)."""
        params = {"power": self.target_power, "scale": self.target_scale}
        return {"kind": "memory", "name": "pol", "params": params}


@dataclass
class TeacherSweepConfig(StudentProtocol):
    """Student protocol plus widths and the students' model, for random-teacher targets."""

    widths: tuple[int, ...] = (8, 16, 32, 64)
    student_activation: str = "tanh"
    student_parametrization: str = "direct"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.widths = check_widths(self.widths)
        check_activation("student_activation", self.student_activation)
        check_parametrization("student_parametrization", self.student_parametrization)


def check_activation(name: str, value: str) -> str:
    """One of ``NONLINEAR_ACTIVATIONS``."""
    return check_choice(name, value, NONLINEAR_ACTIVATIONS)


def check_parametrization(name: str, value: str) -> str:
    """One of ``PARAMETRIZATIONS``."""
    return check_choice(name, value, PARAMETRIZATIONS)


def unit_key(sweep: Sweep, width: int, seed_index: int) -> str:
    """The key of one student unit of ``sweep``."""
    return f"{sweep.key}/m{width}/seed{seed_index}"


def sweep_units(sweep: Sweep, widths: Sequence[int], config: StudentProtocol) -> list[Unit]:
    """One :func:`train_student` unit per (width, seed) of ``sweep``."""
    protocol = protocol_params(config)
    return [
        Unit(
            unit_key(sweep, width, index),
            train_student,
            {
                "target": sweep.target,
                "width": int(width),
                "parametrization": sweep.parametrization,
                "activation": sweep.activation,
                "protocol": protocol,
            },
        )
        for width in widths
        for index in range(config.seeds)
    ]


def units_of(sweeps: Sequence[Sweep], config: PolynomialSweepConfig) -> list[Unit]:
    """The units of several sweeps over ``config.widths``."""
    return [unit for sweep in sweeps for unit in sweep_units(sweep, config.widths, config)]


def assemble_panels(
    experiment: str,
    sweeps: Sequence[Sweep],
    config: PolynomialSweepConfig,
    results: Mapping[str, dict],
) -> dict:
    """``{"experiment", "panels": {key: panel}}`` of several sweeps over ``config.widths``."""
    panels = [assemble_sweep(s, config.widths, config, results) for s in sweeps]
    return {"experiment": experiment, "panels": {p["key"]: p for p in panels}}


def _val_loss(result: dict) -> float:
    value = result.get("val_loss", math.inf)
    return math.inf if value is None or not math.isfinite(value) else float(value)


def assemble_sweep(
    sweep: Sweep, widths: Sequence[int], config: StudentProtocol, results: Mapping[str, dict]
) -> dict:
    """The panel of ``sweep`` from its unit results (runs nothing).

    Per width, the student with the lowest validation loss is the width's
    approximant theta_m (paper Definition 3.5 asks whether *some* sequence of
    approximants is stable; selection uses validation data only). Returns plain data:
    ``curves`` (one per width, for ``curves.csv``), per-width numbers of the chosen
    students, every unit's result under ``units``, and the stability ``verdict``.
    """
    chosen, units = [], {}
    for width in widths:
        candidates = [results[unit_key(sweep, width, i)] for i in range(config.seeds)]
        units[str(width)] = candidates
        chosen.append(min(candidates, key=_val_loss))
    curves = {}
    for width, result in zip(widths, chosen, strict=True):
        curve = PerturbationCurve.from_dict(result["curve"])
        curve.width = int(width)
        curves[int(width)] = curve
    return {
        "key": sweep.key,
        "title": sweep.title,
        "target": sweep.target,
        "activation": sweep.activation,
        "parametrization": sweep.parametrization,
        "widths": [int(m) for m in widths],
        "chosen_seeds": [r["seed"] for r in chosen],
        "curves": [curves[int(m)].to_dict() for m in widths],
        "unperturbed_errors": [float(r["test_loss"]) for r in chosen],
        "relative_errors": [float(r["test_loss"]) / r["output_variance"] for r in chosen],
        "max_re_eigenvalues": [float(r["max_re_eigenvalue"]) for r in chosen],
        "initial_max_re_eigenvalues": [float(r["initial_max_re_eigenvalue"]) for r in chosen],
        "decay_laws": [r["decay"]["short"] for r in chosen],
        "epochs_run": [int(r["training"]["epochs_run"]) for r in chosen],
        "diverged": [bool(r["training"]["diverged"]) for r in chosen],
        "zero_errors": [float(r["zero_error"]) for r in chosen],
        "units": units,
        "verdict": judge_stability(curves, ceiling=max(r["zero_error"] for r in chosen)),
    }


# ------------------------------------------------------------------------------ claims
def approximation_holds(panel: dict) -> tuple[bool, dict]:
    """Whether the sweep approximates its target (see ``APPROXIMATION_*``), and the numbers."""
    errors, relative = panel["unperturbed_errors"], panel["relative_errors"]
    improves = errors[-1] * APPROXIMATION_IMPROVEMENT <= errors[0]
    small = relative[-1] <= APPROXIMATION_RELATIVE_ERROR
    numbers = {
        "widths": panel["widths"],
        "unperturbed_errors": errors,
        "relative_errors": relative,
        "required_improvement": APPROXIMATION_IMPROVEMENT,
        "required_relative_error": APPROXIMATION_RELATIVE_ERROR,
    }
    return bool(improves and small), numbers


def approximation_claim(claim_id: str, panel: dict) -> Claim:
    """E_m(0) falls with m to a small relative error (approximation, paper eq 12)."""
    passed, numbers = approximation_holds(panel)
    return Claim(
        claim_id,
        f"{panel['activation']} RNN, {panel['parametrization']} W: approximation is achieved "
        f"(E_m(0) falls with m, to <= {APPROXIMATION_RELATIVE_ERROR:g} of the output variance)",
        passed,
        numbers,
    )


def _verdict_numbers(panel: dict) -> dict:
    verdict = panel["verdict"]
    return {
        "widths": panel["widths"],
        "stable": verdict["stable"],
        "beta0": verdict["beta0"],
        "reason": verdict["reason"],
        "radii": verdict["radii"],
        "unperturbed_errors": panel["unperturbed_errors"],
    }


def stably_approximated(panel: dict) -> tuple[bool, dict]:
    """Stable approximation (paper Definition 3.5): approximation is achieved (eq 12) *and*
    the verdict over the widths is stable; a flat curve at a large error is neither."""
    approximated, approximation = approximation_holds(panel)
    numbers = {**_verdict_numbers(panel), "approximation": approximation}
    return bool(panel["verdict"]["stable"] and approximated), numbers


def unstable_claim(claim_id: str, panel: dict, statement: str) -> Claim:
    """No stable approximation: the complement of :func:`stably_approximated`."""
    stable, numbers = stably_approximated(panel)
    return Claim(claim_id, statement, not stable, numbers)


def unstable_verdict_claim(claim_id: str, panel: dict, statement: str) -> Claim:
    """E(beta) is not continuous at 0: the verdict over the widths is unstable.

    For a statement about instability *of an approximation* (Figs 2, 7a, 8 control): a
    sweep whose verdict is stable does not support it, whether or not E_m(0) met the
    approximation thresholds (that is the separate approximation claim).
    """
    numbers = {**_verdict_numbers(panel), "approximation": approximation_holds(panel)[1]}
    return Claim(claim_id, statement, not panel["verdict"]["stable"], numbers)


def stable_claim(claim_id: str, panel: dict, statement: str) -> Claim:
    """Stable approximation (see :func:`stably_approximated`)."""
    stable, numbers = stably_approximated(panel)
    return Claim(claim_id, statement, stable, numbers)


def parametrization_claims(prefix: str, panel: dict) -> list[Claim]:
    """The paper's statement for one panel of a polynomial-memory sweep (Figs 7, 8).

    A stable parametrization (paper eq 18): stable approximation. Any other: approximation
    is achieved, but not stably (the curse of memory, paper Theorem 3.9).
    """
    name, activation = panel["parametrization"], panel["activation"]
    what = f"{activation} RNNs with {name} W"
    numbers = {"error_at_largest_beta": [c["errors"][-1] for c in panel["curves"]]}
    if name in STABLE_PARAMETRIZATIONS:
        claim = stable_claim(
            f"{prefix}.{activation}_{name}_stable",
            panel,
            f"{what} approximate polynomial memory stably (E(beta) continuous at 0)",
        )
        claim.numbers.update(numbers)
        return [claim]
    claim = unstable_verdict_claim(
        f"{prefix}.{activation}_{name}_unstable",
        panel,
        f"{what} do not approximate polynomial memory stably (E(beta) jumps at 0)",
    )
    claim.numbers.update(numbers)
    return [approximation_claim(f"{prefix}.{activation}_{name}_approximation", panel), claim]


def verdict_line(panel: dict) -> str:
    """One summary line: the verdict over the widths and whether approximation is achieved."""
    verdict = panel["verdict"]
    approximated, _ = approximation_holds(panel)
    errors, relative = panel["unperturbed_errors"], panel["relative_errors"]
    widths = panel["widths"]
    return (
        f"{panel['key']}: verdict {'stable' if verdict['stable'] else 'not stable'} "
        f"({verdict['reason']}); approximation {'' if approximated else 'not '}achieved: "
        f"E_m(0) {errors[0]:.2e} at m={widths[0]} -> {errors[-1]:.2e} at m={widths[-1]} "
        f"({relative[-1]:.2g} of the output variance)"
    )


def caption_line(panel: dict) -> str:
    """The short form of :func:`verdict_line`, for figure captions."""
    stable, _ = stably_approximated(panel)
    verdict, (approximated, _) = panel["verdict"], approximation_holds(panel)
    errors = panel["unperturbed_errors"]
    radius = f", beta_0 = {verdict['beta0']:.2g}" if verdict["stable"] else ""
    return (
        f"{panel['key']}: {'stable approximation' if stable else 'no stable approximation'} "
        f"(verdict {'stable' if verdict['stable'] else 'not stable'}{radius}; approximation "
        f"{'achieved' if approximated else 'not achieved'}, E_m(0) {errors[0]:.2g} -> "
        f"{errors[-1]:.2g})"
    )


# ------------------------------------------------------------------------------- plots
def width_colours(n: int, cmap: str = "Blues") -> list:
    """``n`` colours of one hue in increasing shade (light: small m, dark: large m)."""
    import matplotlib.pyplot as plt

    return [plt.get_cmap(cmap)(v) for v in np.linspace(0.4, 1.0, n)]


def plot_sweep(ax, panel: dict, title: str | None = None) -> None:
    """E_m(beta) per width (one colour per width, darker for larger m) on log-log axes,
    beta = 0 at the left edge, the limit curve dashed, beta_0 marked when stable."""
    from curse_of_memory.plotting import plot_perturbation_curves

    verdict = panel["verdict"]
    plot_perturbation_curves(
        ax,
        panel["curves"],
        limit=(np.asarray(verdict["limit_betas"]), np.asarray(verdict["limit_errors"])),
        beta0=verdict["beta0"] if verdict["stable"] else None,
        colours=width_colours(len(panel["curves"])),
    )
    stable, _ = stably_approximated(panel)
    word = "stable approximation" if stable else "no stable approximation"
    ax.set_title(f"{title or panel['title']}\n{word}", fontsize=8)
    ax.set_ylabel("E_m(beta), test loss")
    ax.legend(fontsize=7)


def plot_memories(ax, memories: Sequence[tuple[str, dict, dict]], title: str) -> None:
    """Memory functions on a log-y axis (an exponential decay is a straight line).

    ``memories``: ``(label, memory record, decay-law dict)`` triples.
    """
    colours = width_colours(max(len(memories), 1), "viridis")
    for colour, (label, memory, decay) in zip(colours, memories, strict=False):
        t, values = np.asarray(memory["t"]), np.asarray(memory["values"])
        keep = values > 0
        ax.semilogy(t[keep], values[keep], color=colour, label=f"{label}: {decay['short']}")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("t")
    ax.set_ylabel(f"memory M(t), Heaviside |x| <= {memories[0][1]['input_bound']:g}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6)


def panels_summary(results: dict) -> list[str]:
    """One verdict line per panel."""
    return [verdict_line(p) for p in results["panels"].values()]


def panels_figure(results: dict):
    """Every panel side by side, with one caption line per panel."""
    panels = list(results["panels"].values())
    return sweep_figure(panels, "\n".join(caption_line(p) for p in panels))


def add_caption(fig, caption: str) -> None:
    """``caption`` (one or more lines) under the axes of ``fig``."""
    lines = caption.count("\n") + 1
    fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, min(0.05 + 0.035 * lines, 0.3), 1, 1))


def sweep_figure(panels: Sequence[dict], caption: str):
    """One axis per panel, side by side, with ``caption`` under the figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        plot_sweep(ax, panel)
    add_caption(fig, caption)
    return fig
