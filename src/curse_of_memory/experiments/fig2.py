"""Figure 2: tanh RNNs approximate polynomial memory, but not stably (paper Sec 3.3).

Students: tanh ``ContinuousRNN`` with the direct parametrization (lambda = w), widths
m = 4, 8, 16, 64, trained on rho(t) = 1/(t+1)^1.5 to the paper's protocol
(:class:`~curse_of_memory.experiments._students.StudentProtocol`). Paper: approximation
is achieved after 1000 epochs, the curves E_m(beta) cross further left as m grows (no
stable approximation), and the mechanism (paper Appendix A.4) is that approximating slow
memory pushes max Re lambda(W) to 0-.

Presets: ``paper`` (the paper's protocol), ``quick`` (scaled down for a CPU) and
``official`` (the official code's settings and its target 1/(1+0.1 t)^1.1, widths 8..64).
"""

from __future__ import annotations

from dataclasses import dataclass

from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._students import OFFICIAL_PROTOCOL, QUICK_PROTOCOL
from curse_of_memory.experiments._sweeps import (
    PolynomialSweepConfig,
    Sweep,
    add_caption,
    approximation_claim,
    assemble_sweep,
    caption_line,
    check_activation,
    plot_sweep,
    sweep_units,
    unstable_verdict_claim,
    verdict_line,
    width_colours,
)

DESCRIPTION = "Fig 2: tanh RNNs (direct W) on 1/(t+1)^1.5: approximation without stability"

# "max Re lambda(W) approaches 0-" (paper Appendix A.4), fixed before any run: the
# largest width's slowest mode is closer to 0 than the smallest width's, by at least this
# factor in |max Re lambda|, and closer to 0 than where its own initialisation put it
# (so the trend is made by training, not by drawing more initial eigenvalues).
EIGENVALUE_APPROACH_FACTOR = 2.0


@dataclass
class Config(PolynomialSweepConfig):
    """Settings of Figure 2: student protocol, widths, target and the students' activation."""

    widths: tuple[int, ...] = (4, 8, 16, 64)
    activation: str = "tanh"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_activation("activation", self.activation)


PRESETS: dict[str, Config] = {
    "quick": Config(**QUICK_PROTOCOL),
    "paper": Config(),
    "official": Config(
        **OFFICIAL_PROTOCOL, widths=(8, 16, 32, 64), target_power=1.1, target_scale=0.1
    ),
}


def sweep(config: Config) -> Sweep:
    """The one sweep of Figure 2 (direct W)."""
    return Sweep(f"{config.activation}-direct", config.target, config.activation, "direct")


def units(config: Config) -> list:
    """One unit per (width, seed)."""
    return sweep_units(sweep(config), config.widths, config)


def assemble(config: Config, results: dict) -> dict:
    """Results of Figure 2 from the unit results."""
    panel = assemble_sweep(sweep(config), config.widths, config, results)
    return {"experiment": "fig2", "panels": {panel["key"]: panel}}


def _panel(results: dict) -> dict:
    (panel,) = results["panels"].values()
    return panel


def plot(results: dict):
    """(a) E_m(beta) per width with the limit curve; (b) max Re lambda(W) against m."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panel = _panel(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    plot_sweep(left, panel, f"(a) {panel['title']}")
    widths = panel["widths"]
    right.semilogx(widths, panel["initial_max_re_eigenvalues"], "o:", color="grey",
                   label="at initialisation")  # fmt: skip
    for colour, m, value in zip(width_colours(len(widths)), widths,
                                panel["max_re_eigenvalues"], strict=True):  # fmt: skip
        right.semilogx([m], [value], "s", color=colour, markersize=7)
    right.semilogx(widths, panel["max_re_eigenvalues"], "k-", lw=0.8, label="trained")
    right.axhline(0.0, color="red", lw=0.8, ls="--")
    right.set_xticks(widths, [str(m) for m in widths])
    right.minorticks_off()
    right.set_xlabel("width m")
    right.set_ylabel("max Re lambda(W)")
    right.set_title("(b) slowest mode of the trained students (0- is the curse of memory)",
                    fontsize=8)  # fmt: skip
    right.legend(fontsize=7)
    add_caption(fig, caption_line(panel))
    return fig


def eigenvalue_claim(claim_id: str, panel: dict) -> Claim:
    """max Re lambda(W) of the trained students approaches 0 as m grows (see the threshold)."""
    trained, initial = panel["max_re_eigenvalues"], panel["initial_max_re_eigenvalues"]
    closer_with_m = abs(trained[-1]) * EIGENVALUE_APPROACH_FACTOR <= abs(trained[0])
    moved_by_training = abs(trained[-1]) < abs(initial[-1])
    return Claim(
        claim_id,
        "max Re lambda(W) of the trained students approaches 0 as m grows (approximating "
        "slow memory pushes the slowest mode to 0-)",
        bool(closer_with_m and moved_by_training),
        {
            "widths": panel["widths"],
            "max_re_eigenvalues": trained,
            "initial_max_re_eigenvalues": initial,
            "required_factor": EIGENVALUE_APPROACH_FACTOR,
        },
    )


def claims(results: dict) -> list[Claim]:
    """The paper's three statements about Figure 2."""
    panel = _panel(results)
    return [
        approximation_claim("fig2.approximation", panel),
        unstable_verdict_claim(
            "fig2.no_stable_approximation",
            panel,
            f"{panel['activation']} RNNs with direct W do not approximate polynomial memory "
            "stably: E(beta) is not continuous at 0 (crossings shift left as m grows)",
        ),
        eigenvalue_claim("fig2.eigenvalues_to_zero", panel),
    ]


def summary(results: dict) -> list[str]:
    """One line: verdict and E_m(0) range."""
    return [verdict_line(_panel(results))]
