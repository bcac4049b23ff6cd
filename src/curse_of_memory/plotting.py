"""Figures: memory functions on log-log (and semilog) axes with their decay fits."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np

from curse_of_memory._atomic import atomic_write

# Axis styles: a polynomial law is a straight line on "loglog", an exponential on "semilogy".
AXES_STYLES = ("loglog", "semilogy")
_INPUT_NAMES = {"heaviside": "Heaviside", "impulse": "impulse", "reversed": "reversed"}


def plot_memory_functions(
    memories: Mapping[str, object],
    fits: Mapping[str, object] | None = None,
    axes: Sequence[str] = ("loglog",),
    title: str | None = None,
    subject: str | None = None,
):
    """Memory functions M(H)(t), one curve per entry, on one panel per axis style.

    Parameters
    ----------
    memories: label -> ``MemoryFunction`` (``.t``, ``.values`` of shape ``(T,)``,
        ``.kind``).
    fits: optional label -> ``DecayFit``; its law is added to the legend and, when it
        found one, the fitted curve is drawn dashed over its window.
    axes: panels, from ``AXES_STYLES``: ``"loglog"`` and/or ``"semilogy"``.
    title: figure title; default names the test inputs of the curves (their
        ``kind``) and says what the dashed lines are when there are any.
    subject: what was measured, named in the default title (e.g. a model's name).

    Returns the matplotlib ``Figure``.
    """
    from curse_of_memory._validation import check_choice

    if not axes:
        raise ValueError(f"axes must name at least one of: {', '.join(AXES_STYLES)}")
    for style in axes:
        check_choice("axes style", style, AXES_STYLES)
    fits = fits or {}
    fig, panels = plt.subplots(1, len(axes), figsize=(6.4 * len(axes), 4.4), squeeze=False)
    drew_fit = False
    for ax, style in zip(panels[0], axes, strict=True):
        for label, memory in memories.items():
            drew_fit |= _plot_curve(ax, style, label, memory, fits.get(label))
        ax.set_xlabel("t")
        ax.set_ylabel("memory function M(H)(t)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title is None:
        title = _default_title(memories.values(), drew_fit, subject)
    if len(axes) > 1:
        fig.suptitle(title)
    else:
        panels[0][0].set_title(title)
    fig.tight_layout()
    return fig


def _plot_curve(ax, style: str, label: str, memory, fit) -> bool:
    """One memory curve (and its fitted law) on ``ax``; True if a fit line was drawn."""
    t, values = np.asarray(memory.t), np.asarray(memory.values)
    keep = (values > 0) & ((t > 0) if style == "loglog" else np.ones_like(t, dtype=bool))
    plot = getattr(ax, style)
    legend = label if fit is None else f"{label}: {fit.short()}"
    (line,) = plot(t[keep], values[keep], label=legend)
    if fit is None or fit.law not in ("exponential", "polynomial"):
        return False
    t_fit = t[(t >= fit.window[0]) & (t <= fit.window[1]) & (t > 0)]
    plot(t_fit, fit.predict(t_fit), "--", color=line.get_color(), linewidth=1)
    return True


def _default_title(memories, drew_fit: bool, subject: str | None) -> str:
    kinds = []
    for memory in memories:
        kind = getattr(memory, "kind", None)
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    inputs = ", ".join(_INPUT_NAMES.get(k, k) for k in kinds)
    parts = [f"{inputs} inputs"] if inputs else []
    bounds = {getattr(memory, "input_bound", None) for memory in memories} - {None}
    if len(bounds) == 1:  # the sup's bound, when every curve shares it
        bound = bounds.pop()
        parts.append("sup over 0 < |x|_inf" + ("" if math.isinf(bound) else f" <= {bound:g}"))
    if drew_fit:
        parts.append("dashed: fitted decay law")
    head = f"Memory of {subject}" if subject else "Memory functions"
    return head + (f" ({'; '.join(parts)})" if parts else "")


def save_figure(fig, path: str | Path, close: bool = True, **savefig_kwargs) -> Path:
    """Write ``fig`` atomically (temp file beside it, then rename); format from the suffix.

    The folder of ``path`` must exist (none is created). ``savefig_kwargs`` go to
    ``Figure.savefig`` (default ``dpi=120``); ``close=False`` keeps the figure open,
    e.g. to save it again in another format.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    savefig_kwargs.setdefault("dpi", 120)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, **savefig_kwargs))
    finally:
        if close:
            plt.close(fig)
    return path


def figure_suffixes() -> tuple[str, ...]:
    """File name endings ``save_figure`` can write (``".png"``, ``".pdf"``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(f".{name}" for name in sorted(FigureCanvasBase.get_supported_filetypes()))


def plot_perturbation_curves(
    ax,
    curves: list[dict],
    limit: tuple[np.ndarray, np.ndarray] | None = None,
    beta0: float | None = None,
    ceiling: float = 1e8,
    colours: list | None = None,
):
    """E_m(beta) per width on log-log axes, drawn as in the paper's figures.

    beta = 0 is drawn at the left edge (tick "0"); errors above ``ceiling`` (or infinite)
    on a top row marked "inf" instead of their huge values; the estimated limit curve
    dashed; beta_0 as a dotted vertical line.

    Parameters
    ----------
    ax: matplotlib axes.
    curves: dicts with ``width``, ``betas`` ``(n,)`` (``betas[0] = 0``) and ``errors`` ``(n,)``.
    limit: ``(betas, errors)`` of the estimated limit curve E(beta), or None.
    beta0: stability radius to mark, or None.
    ceiling: errors above it are drawn on the "inf" row.
    colours: one matplotlib colour per curve (default: the colour cycle).
    """
    betas = np.asarray(curves[0]["betas"], dtype=np.float64)
    x_zero = betas[1] / 4  # where beta = 0 is drawn
    x = np.where(betas > 0, betas, x_zero)
    finite = [np.asarray(c["errors"], dtype=np.float64) for c in curves]
    shown = np.concatenate([e[np.isfinite(e) & (e <= ceiling) & (e > 0)] for e in finite])
    bottom = shown.min() / 3 if shown.size else 1e-3
    top = shown.max() if shown.size else 1.0
    y_inf = 10 ** (np.ceil(np.log10(top)) + 1.5)  # one row above every finite value shown

    def placed(errors: np.ndarray) -> np.ndarray:
        errors = np.asarray(errors, dtype=np.float64)
        out = np.where(np.isfinite(errors) & (errors <= ceiling), errors, y_inf)
        return np.maximum(out, bottom)

    for index, curve in enumerate(curves):
        colour = None if colours is None else colours[index]
        ax.plot(x, placed(curve["errors"]), marker=".", lw=1.2, color=colour,
                label=f"m={curve['width']}")  # fmt: skip
    if limit is not None:
        ax.plot(x, placed(limit[1]), "k--", lw=1.4, label="E(beta), estimated")
    if beta0 is not None and beta0 > 0:
        ax.axvline(beta0, color="grey", ls=":", lw=1.2)
        ax.annotate(f"beta_0 = {beta0:.3g}", (beta0, bottom), fontsize=7, rotation=90,
                    va="bottom", ha="right", color="grey")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_zero / 1.6, betas[-1] * 1.6)
    ax.set_ylim(bottom, y_inf * 4)
    ax.axhline(np.sqrt(y_inf * min(top, ceiling)), color="lightgrey", lw=0.6)
    x_ticks = [x_zero] + [b for b in ax.get_xticks() if betas[1] <= b <= betas[-1]]
    ax.set_xticks(x_ticks, ["0"] + [f"$10^{{{int(round(np.log10(b)))}}}$" for b in x_ticks[1:]])
    y_ticks = [y for y in ax.get_yticks() if bottom <= y <= min(top, ceiling)]
    ax.set_yticks(
        y_ticks + [y_inf],
        [f"$10^{{{int(round(np.log10(y)))}}}$" for y in y_ticks] + [r"$\infty$"],
    )
    ax.minorticks_off()
    ax.set_xlabel("perturbation beta")
    ax.set_ylabel("E_m(beta)")
    ax.grid(True, alpha=0.25)
    return ax
