"""Figures: memory functions on log-log (and semilog) axes with their decay fits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from curse_of_memory._atomic import atomic_write  # noqa: E402

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
