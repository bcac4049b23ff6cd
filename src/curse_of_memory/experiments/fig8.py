"""Figure 8: a stable reparameterization lifts the curse of memory (paper Sec 3.4, App. E).

Students: softplus-reparameterised (lambda = -log(1 + e^w), paper eq 18) (a) hardtanh
and (b) tanh ``ContinuousRNN``, widths m = 8, 16, 32, 64, on the paper's polynomial memory
rho(t) = 1/(t+1)^1.5. Paper: both are stable approximations. Beside them, as the
control, the direct-W tanh sweep of Figure 2 on the same widths and data: the only
difference between (b) and the control is the parametrization of W.
"""

from __future__ import annotations

from dataclasses import dataclass

from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._students import OFFICIAL_PROTOCOL, QUICK_PROTOCOL
from curse_of_memory.experiments._sweeps import (
    PolynomialSweepConfig,
    Sweep,
    assemble_panels,
    check_activation,
    check_parametrization,
    panels_figure,
    panels_summary,
    parametrization_claims,
    units_of,
)
from curse_of_memory.models import STABLE_PARAMETRIZATIONS

DESCRIPTION = (
    "Fig 8: softplus W makes hardtanh/tanh RNNs approximate 1/(t+1)^1.5 stably "
    "(direct tanh control)"
)


@dataclass
class Config(PolynomialSweepConfig):
    """Settings of Figure 8: protocol, widths, target, the stable panels and the control.

    ``activations`` are the panels with the stable ``parametrization``; ``control`` adds
    a panel of ``control_activation`` students with direct W (empty string: none).
    """

    activations: tuple[str, ...] = ("hardtanh", "tanh")
    parametrization: str = "softplus"
    control_activation: str = "tanh"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.activations = tuple(self.activations)
        if not self.activations or len(set(self.activations)) != len(self.activations):
            raise ValueError(f"activations must be distinct names, got {self.activations}")
        for name in self.activations:
            check_activation("activation", name)
        check_parametrization("parametrization", self.parametrization)
        if self.parametrization not in STABLE_PARAMETRIZATIONS:
            raise ValueError(
                f"parametrization must be a stable one for Figure 8, one of "
                f"{', '.join(STABLE_PARAMETRIZATIONS)}; got {self.parametrization!r}"
            )
        if self.control_activation:
            check_activation("control_activation", self.control_activation)


PRESETS: dict[str, Config] = {
    "quick": Config(**QUICK_PROTOCOL),
    "paper": Config(),
    "official": Config(**OFFICIAL_PROTOCOL, target_power=1.1, target_scale=0.1),
}


def sweeps(config: Config) -> list[Sweep]:
    """The stable panels, then the direct-W control."""
    out = [
        Sweep(f"{name}-{config.parametrization}", config.target, name, config.parametrization)
        for name in config.activations
    ]
    if config.control_activation:
        name = config.control_activation
        out.append(Sweep(f"{name}-direct", config.target, name, "direct"))
    return out


def units(config: Config) -> list:
    """One unit per (panel, width, seed)."""
    return units_of(sweeps(config), config)


def assemble(config: Config, results: dict) -> dict:
    """Results of Figure 8 from the unit results."""
    return assemble_panels("fig8", sweeps(config), config, results)


def claims(results: dict) -> list[Claim]:
    """Stable panels: stable approximation; the control: approximation, not stable."""
    return [c for p in results["panels"].values() for c in parametrization_claims("fig8", p)]


# One E_m(beta) panel per sweep (limit curve dashed, verdicts in the caption); one
# verdict line per panel.
plot = panels_figure
summary = panels_summary
