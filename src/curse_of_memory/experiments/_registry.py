"""Name -> experiment module. Add a line here for each new figure or table."""

from __future__ import annotations

from types import ModuleType

from curse_of_memory.experiments import (
    appj,
    fig1,
    fig2,
    fig3,
    fig4,
    fig5,
    fig7,
    fig8,
    fig10,
    fig11,
    fig12,
    gated_sup,
    table1,
)

EXPERIMENTS: dict[str, ModuleType] = {
    "fig1": fig1,
    "fig2": fig2,
    "fig3": fig3,
    "fig4": fig4,
    "fig5": fig5,
    "fig7": fig7,
    "fig8": fig8,
    "fig10": fig10,
    "fig11": fig11,
    "fig12": fig12,
    "table1": table1,
    "appJ": appj,
    "gated_sup": gated_sup,
}
