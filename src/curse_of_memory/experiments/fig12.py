"""Figure 12: a random causal transformer is not stably approximated by tanh RNNs.

Teacher (paper Appendix I.2): a randomly initialised causal transformer
(:class:`~curse_of_memory.targets.RandomTransformerTeacher`, d_model 16, 1 head,
feed-forward 32, 1 layer, with sinusoidal positions: without positions a constant input
gives a constant output, so its Heaviside memory would be exactly 0 after t = 0).
Students: tanh RNNs with direct W, m = 8..64. Paper: (a) the teacher's memory is
non-decaying and fluctuating; (b) the students show no stable approximation (and m = 64
does not beat m = 16 or 32).
"""

from __future__ import annotations

from dataclasses import dataclass

from curse_of_memory._validation import check_choice, check_nonnegative_int, check_positive_int
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._students import (
    QUICK_PROTOCOL,
    protocol_params,
    teacher_memory,
)
from curse_of_memory.experiments._sweeps import (
    Sweep,
    TeacherSweepConfig,
    add_caption,
    assemble_sweep,
    caption_line,
    plot_memories,
    plot_sweep,
    sweep_units,
    unstable_claim,
    verdict_line,
)
from curse_of_memory.experiments._units import Unit
from curse_of_memory.targets.teachers import POSITIONAL_ENCODINGS

DESCRIPTION = "Fig 12: a random causal transformer: non-decaying memory, no stable RNN fit"

# Decay laws that mean "the memory follows no decay law" (paper: "non-decaying and
# fluctuating"). An exponential or a polynomial fit of the teacher's memory fails the claim.
NOT_DECAYING_LAWS = ("non-decaying", "other", "undetermined")


@dataclass
class Config(TeacherSweepConfig):
    """Settings of Figure 12: protocol, student widths and model, the transformer teacher."""

    teacher_seed: int = 0
    d_model: int = 16
    nhead: int = 1
    dim_feedforward: int = 32
    num_layers: int = 1
    positional: str = "sinusoidal"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonnegative_int("teacher_seed", self.teacher_seed)
        for name in ("d_model", "nhead", "dim_feedforward", "num_layers"):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.nhead:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by nhead ({self.nhead})")
        check_choice("positional", self.positional, POSITIONAL_ENCODINGS)


PRESETS: dict[str, Config] = {
    "quick": Config(**QUICK_PROTOCOL),
    "paper": Config(),
}


def sweep(config: Config) -> Sweep:
    """The students' sweep on the transformer teacher."""
    target = {
        "kind": "transformer_teacher",
        "seed": config.teacher_seed,
        "d_model": config.d_model,
        "nhead": config.nhead,
        "dim_feedforward": config.dim_feedforward,
        "num_layers": config.num_layers,
        "positional": config.positional,
    }
    activation, name = config.student_activation, config.student_parametrization
    return Sweep("transformer", target, activation, name)


def units(config: Config) -> list:
    """The teacher's memory function, then one student unit per (width, seed)."""
    students = sweep(config)
    params = {"target": students.target, "protocol": protocol_params(config)}
    return [Unit("teacher/memory", teacher_memory, params)] + sweep_units(
        students, config.widths, config
    )


def assemble(config: Config, results: dict) -> dict:
    """The students' panel and the teacher's memory."""
    panel = assemble_sweep(sweep(config), config.widths, config, results)
    teacher = results["teacher/memory"]
    return {
        "experiment": "fig12",
        "panels": {panel["key"]: panel},
        "teacher": {"memory": teacher["memory"], "decay": teacher["decay"]},
    }


def plot(results: dict):
    """(a) the teacher's memory; (b) the students' E_m(beta)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    teacher = results["teacher"]
    (panel,) = results["panels"].values()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    plot_memories(left, [("teacher", teacher["memory"], teacher["decay"])],
                  "(a) memory of the random causal transformer")  # fmt: skip
    plot_sweep(right, panel, f"(b) {panel['title']}")
    add_caption(fig, f"teacher memory: {teacher['decay']['short']}\n{caption_line(panel)}")
    return fig


def claims(results: dict) -> list[Claim]:
    """(a) the teacher's memory follows no decay law; (b) no stable approximation."""
    teacher = results["teacher"]
    (panel,) = results["panels"].values()
    decay = teacher["decay"]
    values = teacher["memory"]["values"]
    tail = values[len(values) // 2 :]
    return [
        Claim(
            "fig12.teacher_memory_not_decaying",
            "the random transformer's memory is non-decaying or fluctuating (no exponential "
            "or polynomial decay law fits it)",
            decay["law"] in NOT_DECAYING_LAWS,
            {
                "law": decay["law"],
                "fit": decay["short"],
                "reason": decay.get("reason", ""),
                "peak": max(values),
                "late_half_mean": sum(tail) / len(tail),
            },
        ),
        unstable_claim(
            "fig12.no_stable_approximation",
            panel,
            f"{panel['activation']} RNNs do not approximate the random transformer stably",
        ),
    ]


def summary(results: dict) -> list[str]:
    """The teacher's decay law and the students' verdict."""
    (panel,) = results["panels"].values()
    return [f"teacher memory: {results['teacher']['decay']['short']}", verdict_line(panel)]
