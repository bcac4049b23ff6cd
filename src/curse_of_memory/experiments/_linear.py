"""Shared machinery of the linear-theory figures (Figs 1 and 4, SPEC 7.1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.linear_theory import (
    LINEAR_TARGETS,
    PAPER_BETAS,
    PAPER_GRID,
    ExponentialSum,
    model_error,
    perturbation_curve,
)
from curse_of_memory.analysis.stability import stability_radius
from curse_of_memory.experiments._io import StepStore

# Errors above this are drawn at this value (exploding models reach ~1e265, which
# matplotlib's log axis cannot label).
PLOT_CEILING = 1e30

# Labels used in plots and summaries.
TARGET_LABELS = {"exp": "rho(t) = 0.9^t", "pol": "rho(t) = 1/(t+1)^1.1"}

# The quick presets of the linear-theory figures (CPU, well under a second): four
# widths, every other beta of the paper's list (SPEC 7.1), five samples.
QUICK_SWEEP = {
    "widths": (2, 4, 8, 14),
    "betas": tuple(float(b) for b in PAPER_BETAS[::2]),
    "samples": 5,
}


def target_scale(target: str, error: str) -> float:
    """Size of the target in the error measure: sup |rho| or sum |rho| over the grid."""
    rho = LINEAR_TARGETS[target](PAPER_GRID)
    return float(model_error(rho, np.zeros_like(rho), error))


def sweep_panel(
    key: str,
    target: str,
    fit: Callable[[int], ExponentialSum],
    config,
    store: StepStore,
    progress: bool,
) -> dict:
    """Fit and perturb every width of ``config.widths``; one checkpointed step per width.

    ``config`` needs widths, betas, samples, norm, error, seed, abs_tol_fraction,
    rel_tol, shrink_factor. Returns the panel dict: curves, fits, verdict.
    """
    curves, fits = [], []
    widths = list(config.widths)
    for index, width in enumerate(tqdm(widths, desc=key, disable=not progress, leave=False)):
        step = f"{key}_m{width}"
        data = store.get(step)
        if data is None:
            model = fit(width)
            curve = perturbation_curve(
                model,
                target,
                betas=np.asarray(config.betas, dtype=np.float64),
                samples=config.samples,
                norm=config.norm,
                error=config.error,
                seed=config.seed + 1000 * index,  # per-step seed: resume-order independent
            )
            info = {k: v for k, v in model.meta.items() if isinstance(v, (int, float, str))}
            info.update(width=width, max_abs_coefficient=float(np.abs(model.coefficients).max()))
            info["max_eigenvalue"] = float(model.eigenvalues.max())
            data = {"curve": curve.to_dict(), "fit": info}
            store.put(step, data)
        curves.append(PerturbationCurve.from_dict(data["curve"]))
        fits.append(data["fit"])
    verdict = stability_radius(
        curves,
        rel_tol=config.rel_tol,
        abs_tol=config.abs_tol_fraction * target_scale(target, config.error),
        shrink_factor=config.shrink_factor,
    )
    return {
        "target": target,
        "curves": [c.to_dict() for c in curves],
        "fits": fits,
        "verdict": verdict.to_dict(),
    }


def plot_panels(results: dict, titles: dict[str, str]):
    """Log-log E_m(beta) per width (beta > 0) and the limiting curve dashed, one axis per panel."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(results["panels"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        panel = results["panels"][name]
        for curve in panel["curves"]:
            betas, errors = np.asarray(curve["betas"]), np.asarray(curve["errors"])
            positive = betas > 0
            shown = np.minimum(errors[positive], PLOT_CEILING)
            ax.loglog(betas[positive], shown, marker=".", label=f"m={curve['width']}")
        verdict = panel["verdict"]
        lb, le = np.asarray(verdict["limit_betas"]), np.asarray(verdict["limit_errors"])
        limit = np.minimum(le[lb > 0], PLOT_CEILING)
        ax.loglog(lb[lb > 0], limit, "k--", label="limit E(beta)")
        ax.axhline(verdict["tolerance"], color="grey", lw=0.8, ls=":")
        ax.set_title(f"{titles.get(name, name)}\n{verdict['verdict']}", fontsize=8)
        ax.set_xlabel("perturbation beta")
        ax.set_ylabel("E_m(beta)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def unperturbed_errors(panel: dict) -> list[float]:
    """E_m(0) per width of a panel."""
    return [float(c["errors"][0]) for c in panel["curves"]]


def check_widths(widths: Sequence[int]) -> None:
    """Widths must be >= 2 distinct ascending positive integers."""
    widths = list(widths)
    if len(widths) < 2 or any(
        isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1 for m in widths
    ):
        raise ValueError(f"widths must be at least 2 positive integers, got {widths}")
    if sorted(set(widths)) != widths:
        raise ValueError(f"widths must be strictly ascending, got {widths}")
