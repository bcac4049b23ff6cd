"""Name -> experiment module. Add a line here for each new figure or table."""

from __future__ import annotations

from types import ModuleType

from curse_of_memory.experiments import appj, fig1, fig4, fig5, fig10, fig11, gated_sup, table1

EXPERIMENTS: dict[str, ModuleType] = {
    "fig1": fig1,
    "fig4": fig4,
    "fig5": fig5,
    "fig10": fig10,
    "fig11": fig11,
    "table1": table1,
    "appJ": appj,
    "gated_sup": gated_sup,
}
