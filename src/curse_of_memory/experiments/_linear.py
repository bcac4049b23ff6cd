"""Shared machinery of the linear-theory figures (Figures 1 and 4, paper Appendix D).

One unit per (panel, width): fit the target with the configured reading of Appendix D
(:data:`~curse_of_memory.analysis.linear_theory.FIT_READINGS`), build the linear
``ContinuousRNN`` the fit defines, and measure its perturbation error with
:func:`~curse_of_memory.analysis.perturbation_error` on the impulse-response distance of
the reading: ``perturbation="shift"`` moves all raw recurrent weights together by +-beta
(:class:`~curse_of_memory.analysis.linear_theory.RecurrentShift`, the direction of the
paper's proof) and the readout at random, ``"random"`` moves every raw weight at random.
Panels are assembled with the stability verdict of their width sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_nonnegative_int,
    check_positive_int,
)
from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.linear_theory import (
    FIT_READINGS,
    PAPER_UNPERTURBED_ERRORS,
    PAPER_WIDTHS,
    PERTURBATIONS,
    POWER_LAW_EXPONENT,
    RecurrentShift,
    fit_power_law_quadrature,
    fit_reading,
    linear_rnn,
    linear_target,
)
from curse_of_memory.analysis.perturbation import NORMS, impulse_response_loss, perturbation_error
from curse_of_memory.analysis.stability import stability_verdict
from curse_of_memory.experiments._units import Unit, UnitContext

# Labels used in plots and summaries.
TARGET_LABELS = {"exp": "rho(t) = 0.9^t", "pol": "rho(t) = 1/(t+1)^1.1"}

# The paper's beta list for the linear experiments (Appendix D): 0 and 5e-4 * 2^k, k <= 20.
PAPER_BETAS = tuple(float(b) for b in np.concatenate([[0.0], 5e-4 * 2.0 ** np.arange(21)]))
PAPER_SAMPLES = 10

# The quick presets (CPU, about a second): four widths, every other beta, five samples.
QUICK_SWEEP = {"widths": (2, 4, 8, 14), "betas": PAPER_BETAS[::2], "samples": 5}

# float64 rounding of errors of order 1: differences below it are not meaningful.
RESOLUTION = 1e-12


def check_sweep(config) -> None:
    """Validate the fields every linear-figure config shares (widths, betas, samples, ...)."""
    widths = list(config.widths)
    if len(widths) < 3 or any(
        isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1 for m in widths
    ):
        raise ValueError(f"widths must be at least 3 positive integers, got {widths}")
    if sorted(set(widths)) != widths:
        raise ValueError(f"widths must be strictly ascending, got {widths}")
    betas = np.asarray(config.betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size < 4 or betas[0] != 0 or np.any(np.diff(betas) <= 0):
        raise ValueError("betas must start at 0 and be strictly ascending (>= 4 values)")
    if not np.all(np.isfinite(betas)):
        raise ValueError("betas must be finite")
    check_positive_int("samples", config.samples)
    check_choice("norm", config.norm, NORMS)
    check_choice("reading", config.reading, FIT_READINGS)
    check_choice("perturbation", config.perturbation, PERTURBATIONS)
    check_nonnegative_int("seed", config.seed)
    if not isinstance(config.perturb_input_weights, bool):
        raise TypeError("perturb_input_weights must be True or False")
    if check_finite_float("resolution", config.resolution) < 0:
        raise ValueError(f"resolution must be >= 0, got {config.resolution}")


def perturbation_unit(
    context: UnitContext,
    target: str,
    width: int,
    reading: str,
    parametrization: str,
    betas: Sequence[float],
    samples: int,
    norm: str,
    perturb_input_weights: bool,
    fit: str = "least_squares",
    perturbation: str = "shift",
) -> dict:
    """One width of one panel: fit, linear RNN, perturbation curve (JSON-able dict).

    ``fit="laguerre"`` replaces the reading's least squares by the Gauss-Laguerre
    quadrature of the power law (positive coefficients); the distance is the reading's.
    ``perturbation``: ``"shift"`` (all raw recurrent weights moved together, the readout at
    random) or ``"random"`` (every raw weight at random).
    """
    spec = FIT_READINGS[reading]
    functional = linear_target(target)
    if fit == "laguerre":
        exp_sum = fit_power_law_quadrature(width, POWER_LAW_EXPONENT)
    else:
        exp_sum = fit_reading(reading, functional, width)
    model = linear_rnn(exp_sum, spec.dt, parametrization, perturb_input_weights)
    loss = impulse_response_loss(functional, spec.dt, spec.steps, norm=spec.norm)
    perturbed = RecurrentShift(model) if perturbation == "shift" else model
    curve = perturbation_error(
        perturbed, loss, betas, samples=samples, seed=context.seed, norm=norm, progress=False
    )
    curve.meta["perturbation"] = perturbation
    zero_error = float(loss.distance(torch.zeros_like(loss.targets), loss.targets))
    info = {k: v for k, v in exp_sum.meta.items() if isinstance(v, (int, float, str))}
    info.update(width=width, eigenvalues=exp_sum.eigenvalues.tolist(), zero_error=zero_error)
    return {"curve": curve.to_dict(), "fit": info}


def panel_units(panel: str, target: str, parametrization: str, config) -> list[Unit]:
    """The units of one panel: one per width, keyed ``"<panel>/m<width>"``."""
    return [
        Unit(
            f"{panel}/m{width}",
            perturbation_unit,
            {
                "target": target,
                "width": int(width),
                "reading": config.reading,
                "parametrization": parametrization,
                "betas": [float(b) for b in config.betas],
                "samples": int(config.samples),
                "norm": config.norm,
                "perturb_input_weights": config.perturb_input_weights,
                "fit": getattr(config, "fit", "least_squares"),
                "perturbation": config.perturbation,
            },
        )
        for width in config.widths
    ]


def assemble_panel(panel: str, target: str, parametrization: str, config, results: dict) -> dict:
    """Curves, fits, verdict and the published E_m(0) of one panel, from its unit results."""
    curves = {}
    fits = []
    for width in config.widths:
        data = results[f"{panel}/m{width}"]
        curves[int(width)] = PerturbationCurve.from_dict(data["curve"])
        fits.append(data["fit"])
    # blow-up level: the error of predicting zero (the model then approximates nothing)
    ceiling = max(f["zero_error"] for f in fits)
    verdict = stability_verdict(curves, resolution=config.resolution, ceiling=ceiling)
    published = dict(zip(PAPER_WIDTHS, PAPER_UNPERTURBED_ERRORS[target], strict=True))
    return {
        "target": target,
        "parametrization": parametrization,
        "reading": config.reading,
        "perturbation": config.perturbation,
        "norm": config.norm,
        "zero_error": ceiling,
        "curves": [curves[int(m)].to_dict() for m in config.widths],
        "fits": fits,
        "verdict": verdict.to_dict(),
        "paper_unperturbed_errors": {str(m): published.get(int(m)) for m in config.widths},
    }


def unperturbed_errors(panel: dict) -> list[float]:
    """E_m(0) per width of a panel."""
    return [float(c["errors"][0]) for c in panel["curves"]]


def published_ratios(panel: dict) -> dict[str, float]:
    """``{width: E_m(0) / published E_m(0)}`` for the widths with a published value."""
    out = {}
    for curve in panel["curves"]:
        paper = panel["paper_unperturbed_errors"].get(str(curve["width"]))
        if paper is not None:
            out[str(curve["width"])] = float(curve["errors"][0]) / paper
    return out


def published_comparison(panel: dict) -> list[str]:
    """``"m=4: 0.107 (paper 0.10, x1.07)"`` per width with a published value."""
    out = []
    for curve in panel["curves"]:
        paper = panel["paper_unperturbed_errors"].get(str(curve["width"]))
        if paper is not None:
            ours = float(curve["errors"][0])
            out.append(f"m={curve['width']}: {ours:.3g} (paper {paper:.2g}, x{ours / paper:.2f})")
    return out


def plot_panels(results: dict, titles: dict[str, str]):
    """One axis per panel: E_m(beta) per width, the limit curve dashed, beta_0 marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from curse_of_memory.plotting import plot_perturbation_curves

    names = list(results["panels"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.0), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        panel = results["panels"][name]
        verdict = panel["verdict"]
        limit = np.array([np.inf if e is None else e for e in verdict["limit_errors"]])
        plot_perturbation_curves(
            ax,
            panel["curves"],
            limit=(np.asarray(verdict["betas"]), limit),
            beta0=verdict["beta0"] if verdict["stable"] else None,
        )
        word = f"stable, beta_0 = {verdict['beta0']:.2g}" if verdict["stable"] else "unstable"
        setting = f"{panel.get('reading', '?')} fit, {panel.get('perturbation', '?')} perturbation"
        ax.set_title(f"{titles.get(name, name)}\n{setting}; verdict: {word}", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
