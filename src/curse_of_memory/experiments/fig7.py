"""Figure 7: the curse of memory holds for ReLU RNNs too (paper Appendix E).

Students: ReLU ``ContinuousRNN``, widths m = 8, 16, 32, 64, on the paper's polynomial
memory rho(t) = 1/(t+1)^1.5, with (a) the direct parametrization lambda = w and (b) the
softplus reparameterization lambda = -log(1 + e^w) (paper eq 18). Paper: (a) is not
stable (E_m(beta) reaches ~1e6 at beta = 1 on its horizon), (b) is stable.
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

DESCRIPTION = "Fig 7: ReLU RNNs on 1/(t+1)^1.5: direct W unstable, softplus W stable"


@dataclass
class Config(PolynomialSweepConfig):
    """Settings of Figure 7: protocol, widths, target, activation and the two W maps."""

    activation: str = "relu"
    parametrizations: tuple[str, ...] = ("direct", "softplus")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_activation("activation", self.activation)
        self.parametrizations = tuple(self.parametrizations)
        if not self.parametrizations or len(set(self.parametrizations)) != len(
            self.parametrizations
        ):
            raise ValueError(
                f"parametrizations must be distinct names, got {self.parametrizations}"
            )
        for name in self.parametrizations:
            check_parametrization("parametrization", name)


PRESETS: dict[str, Config] = {
    "quick": Config(**QUICK_PROTOCOL),
    "paper": Config(),
    "official": Config(**OFFICIAL_PROTOCOL, target_power=1.1, target_scale=0.1),
}


def sweeps(config: Config) -> list[Sweep]:
    """One sweep per parametrization."""
    return [
        Sweep(f"{config.activation}-{name}", config.target, config.activation, name)
        for name in config.parametrizations
    ]


def units(config: Config) -> list:
    """One unit per (parametrization, width, seed)."""
    return units_of(sweeps(config), config)


def assemble(config: Config, results: dict) -> dict:
    """Results of Figure 7 from the unit results."""
    return assemble_panels("fig7", sweeps(config), config, results)


def claims(results: dict) -> list[Claim]:
    """Stable parametrizations: stable approximation; the others: approximation, not stable."""
    return [c for p in results["panels"].values() for c in parametrization_claims("fig7", p)]


# One E_m(beta) panel per sweep (limit curve dashed, verdicts in the caption); one
# verdict line per panel.
plot = panels_figure
summary = panels_summary
