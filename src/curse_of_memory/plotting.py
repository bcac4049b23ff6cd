"""Figures: memory functions on log-log axes with their decay fits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from curse_of_memory._atomic import atomic_write  # noqa: E402


def plot_memory_functions(memories: Mapping[str, object], fits: Mapping[str, object] | None = None):
    """Log-log plot of memory functions M(H)(t), one curve per entry.

    Parameters
    ----------
    memories: label -> ``MemoryFunction`` (``.t``, ``.values`` of shape ``(T,)``).
    fits: optional label -> ``DecayFit``; its law is added to the legend and the
        fitted curve drawn dashed over its window.

    Returns the matplotlib ``Figure``.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, memory in memories.items():
        t, values = np.asarray(memory.t), np.asarray(memory.values)
        keep = (t > 0) & (values > 0)
        fit = (fits or {}).get(label)
        legend = label if fit is None else f"{label}: {fit.short()}"
        (line,) = ax.loglog(t[keep], values[keep], label=legend)
        if fit is not None and fit.law in ("exponential", "polynomial"):
            t_fit = t[(t >= fit.window[0]) & (t <= fit.window[1]) & (t > 0)]
            ax.loglog(t_fit, fit.predict(t_fit), "--", color=line.get_color(), linewidth=1)
    ax.set_xlabel("t")
    ax.set_ylabel("memory function M(H)(t)")
    # What was measured (inputs and bound of the sup), when all curves share it.
    measured = {m.describe() for m in memories.values() if hasattr(m, "describe")}
    what = measured.pop() if len(measured) == 1 else "Heaviside inputs"
    ax.set_title(f"Memory functions ({what})\ndashed: fitted decay law", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | Path, close: bool = True, **savefig_kwargs) -> Path:
    """Write ``fig`` atomically (temp file, then rename); format from the suffix.

    ``savefig_kwargs`` go to ``Figure.savefig`` (default ``dpi=120``); ``close=False``
    keeps the figure open, e.g. to save it again in another format.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    savefig_kwargs.setdefault("dpi", 120)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, **savefig_kwargs))
    if close:
        plt.close(fig)
    return path
