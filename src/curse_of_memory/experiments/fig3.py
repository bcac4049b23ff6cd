"""Figure 3: stably approximated random teachers have exponentially decaying memory.

Filtering (paper Sec 3.3, Appendix I): random tanh teacher RNNs (width 256 in the paper)
are fitted by tanh student RNNs of widths m = 4..64 with perturbation radii beta in
[1e-10, 1]. A teacher is *kept* when it is stably approximated (paper Def 3.5: E_m(0)
falls to <= 1% of the output variance, and the stability verdict over the widths is
stable). Paper (Theorem 3.9): every kept teacher has exponentially decaying memory. The
teachers' memory functions (bounded Heaviside inputs) and their decay laws are reported
for the kept and, as a contrast, the rejected teachers.

Teachers (how the paper drew them is not given; ours): continuous-time tanh RNNs like
the students (:class:`~curse_of_memory.targets.RandomRNNTeacher`, Euler cell, PyTorch's
default uniform init of W, U, b), with W shifted by ``-leak I``. The leaks are spread so
that the population is diverse (paper Appendix I, Fig 11): at leak 0 the spectrum of W
lies in both half-planes and the memory does not decay; from leak ~1 on it decays
exponentially. ``teacher_cell="torch"`` selects the official code's teacher instead
(``torch.nn.RNN``, discrete time), whose random draws all decay exponentially.
"""

from __future__ import annotations

from dataclasses import dataclass

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_nonnegative_int,
    check_positive_int,
)
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
    approximation_holds,
    assemble_sweep,
    plot_memories,
    plot_sweep,
    stably_approximated,
    sweep_units,
)
from curse_of_memory.experiments._units import Unit
from curse_of_memory.targets import RNN_CELLS

DESCRIPTION = "Fig 3: random tanh teachers kept by stable approximation decay exponentially"

# The radii of Fig 3: 0 and 1e-10 * 2^k up to ~0.86 (the paper's axis runs 1e-10..1).
FIG3_BETAS = (0.0, *(1e-10 * 2.0**k for k in range(34)))


@dataclass
class Config(TeacherSweepConfig):
    """Settings of Figure 3: protocol, student widths, the teachers and the students' model.

    ``n_teachers`` random teachers; teacher i has seed ``first_teacher_seed + i`` and leak
    ``teacher_leaks[i % len(teacher_leaks)]`` (how many teachers the paper drew, and how,
    is not given; ours). ``teacher_cell``: ``"euler"`` or ``"torch"`` (leaks must be 0).
    """

    widths: tuple[int, ...] = (4, 8, 16, 32, 64)
    betas: tuple[float, ...] = FIG3_BETAS
    n_teachers: int = 8
    first_teacher_seed: int = 0
    teacher_width: int = 256
    teacher_cell: str = "euler"
    teacher_leaks: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("n_teachers", self.n_teachers)
        check_nonnegative_int("first_teacher_seed", self.first_teacher_seed)
        check_positive_int("teacher_width", self.teacher_width)
        check_choice("teacher_cell", self.teacher_cell, RNN_CELLS)
        self.teacher_leaks = tuple(float(v) for v in self.teacher_leaks)
        if not self.teacher_leaks:
            raise ValueError("teacher_leaks must hold at least one value")
        for leak in self.teacher_leaks:
            check_finite_float("teacher_leaks", leak)
        if self.teacher_cell == "torch" and any(self.teacher_leaks):
            raise ValueError(
                f"teacher_leaks must all be 0 with teacher_cell='torch', got {self.teacher_leaks}"
            )


PRESETS: dict[str, Config] = {
    "quick": Config(
        **QUICK_PROTOCOL,
        widths=(4, 8, 16, 32),
        n_teachers=4,
        teacher_width=64,
        teacher_leaks=(0.0, 0.5, 1.0, 1.5),
    ),
    "paper": Config(),
}


def teacher_target(config: Config, index: int) -> dict:
    """Description of teacher ``index``."""
    return {
        "kind": "rnn_teacher",
        "hidden_size": config.teacher_width,
        "seed": config.first_teacher_seed + index,
        "activation": "tanh",
        "cell": config.teacher_cell,
        "leak": config.teacher_leaks[index % len(config.teacher_leaks)],
    }


def sweeps(config: Config) -> list[Sweep]:
    """One student sweep per teacher."""
    activation, name = config.student_activation, config.student_parametrization
    return [
        Sweep(f"teacher{i}", teacher_target(config, i), activation, name)
        for i in range(config.n_teachers)
    ]


def units(config: Config) -> list:
    """Per teacher: its memory function, then one student unit per (width, seed)."""
    protocol = protocol_params(config)
    out = []
    for index, teacher in enumerate(sweeps(config)):
        params = {"target": teacher.target, "protocol": protocol}
        out.append(Unit(f"teacher{index}/memory", teacher_memory, params))
        out.extend(sweep_units(teacher, config.widths, config))
    return out


def assemble(config: Config, results: dict) -> dict:
    """Panels per teacher, and the teachers' memories with the keep/reject decision."""
    panels, teachers = {}, []
    for index, teacher in enumerate(sweeps(config)):
        panel = assemble_sweep(teacher, config.widths, config, results)
        approximated, _ = approximation_holds(panel)
        kept, _ = stably_approximated(panel)
        memory = results[f"teacher{index}/memory"]
        teachers.append(
            {
                "index": index,
                "target": teacher.target,
                "approximated": approximated,
                "stable": panel["verdict"]["stable"],
                "kept": kept,
                "memory": memory["memory"],
                "decay": memory["decay"],
            }
        )
        panels[panel["key"]] = panel
    return {"experiment": "fig3", "panels": panels, "teachers": teachers}


def plot(results: dict):
    """(a) students of the first kept teacher (else teacher 0); (b) every teacher's memory."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    teachers = results["teachers"]
    kept = [t for t in teachers if t["kept"]]
    shown = (kept or teachers)[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    status = "kept" if shown["kept"] else "rejected: none was kept"
    panel = results["panels"][f"teacher{shown['index']}"]
    plot_sweep(left, panel, f"(a) {panel['title']} ({status})")
    memories = [
        (f"teacher {t['index']} ({'kept' if t['kept'] else 'rejected'})", t["memory"], t["decay"])
        for t in kept + [t for t in teachers if not t["kept"]]
    ]
    plot_memories(right, memories, "(b) memory functions of the teachers (kept first)")
    add_caption(fig, summary(results)[0])
    return fig


def claims(results: dict) -> list[Claim]:
    """Every kept teacher decays exponentially (fails when no teacher is kept)."""
    teachers = results["teachers"]
    kept = [t for t in teachers if t["kept"]]
    rejected = [t for t in teachers if not t["kept"]]
    passed = bool(kept) and all(t["decay"]["law"] == "exponential" for t in kept)
    return [
        Claim(
            "fig3.kept_teachers_exponential",
            "every random teacher that is approximated stably has exponentially decaying "
            "memory (at least one teacher must be kept for this to be evidence)",
            passed,
            {
                "n_teachers": len(teachers),
                "kept": [t["index"] for t in kept],
                "kept_laws": [t["decay"]["short"] for t in kept],
                "rejected_laws": [t["decay"]["short"] for t in rejected],
                "rejected_approximated": [t["approximated"] for t in rejected],
                "rejected_stable": [t["stable"] for t in rejected],
            },
        )
    ]


def summary(results: dict) -> list[str]:
    """Kept count and decay laws of the kept and the rejected teachers."""
    teachers = results["teachers"]
    kept = [t for t in teachers if t["kept"]]
    rejected = [t for t in teachers if not t["kept"]]
    kept_laws = ", ".join(t["decay"]["short"] for t in kept) or "-"
    rejected_laws = ", ".join(t["decay"]["short"] for t in rejected) or "-"
    return [
        f"kept {len(kept)} of {len(teachers)} teachers (stable approximation); "
        f"kept: {kept_laws}; rejected: {rejected_laws}"
    ]
