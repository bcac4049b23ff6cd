"""Figure 11 (Appendix I.1): diverse memory of random tanh RNNs, and a periodic memory.

(a) Random tanh RNNs of the paper's form (eq 3), ``dh/dt = tanh((W - leak I) h + U x + b)``
    discretised by forward Euler with ``dt = 1`` (the official code's step), width 16,
    every entry of W, U, b from PyTorch's default ``U(-1/sqrt(m), 1/sqrt(m))``
    (:class:`~curse_of_memory.targets.RandomRNNTeacher`). ``leak = 0`` is the plain
    random network; a positive ``leak`` shifts the spectrum of W left, so the sweep
    spans non-decaying to fast-decaying memories. Memory under Heaviside inputs with
    ``|x|_inf <= 1`` up to t = 1500, and the decay law of each network.

(b) The 2-D tanh RNN with W = [[1, 1], [-4, -3]]. With a constant input the velocity
    ``v = dh/dt`` obeys ``dv/dt = (1 - v^2) * (A v)`` (A the matrix in front of h), so the
    phase portrait lives in the (dh1/dt, dh2/dt) plane, whatever U, x, b are. The
    periodic memory appears with the sign of the official code's recurrence,
    ``dh/dt = tanh(U x + b - W h)`` (A = -W, eigenvalues +1, +1): the origin is
    unstable and every trajectory winds onto a limit cycle. With eq 3's sign
    (A = +W, eigenvalues -1, -1) the origin is a stable node and the memory decays;
    both are measured. The equation is odd in v, so the cycle satisfies
    ``v(t + P/2) = -v(t)`` and the memory |c . (v_x - v_0)| repeats after half the
    orbit period P. We take U = (1, 0), b = (0.5, -0.5), c = (1, 0): b != 0 puts the
    zero-input trajectory itself on the cycle (with b = 0 it would sit at the unstable
    origin and the sup over small inputs would grow like t e^t). The period is checked
    against the orbit period from a high-accuracy ODE solve (scipy, rtol 1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from curse_of_memory._validation import (
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.analysis.dynamics import tanh_velocity_field
from curse_of_memory.analysis.periodicity import estimate_period
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._memory_probe import (
    check_bound,
    fit_law,
    measure_memory,
    memory_record,
)
from curse_of_memory.experiments._units import Unit, UnitContext, derive_seed
from curse_of_memory.models.rnn import ContinuousRNN
from curse_of_memory.targets.teachers import RandomRNNTeacher

DESCRIPTION = "Fig 11: diverse memory of random tanh RNNs; periodic memory of a 2-D tanh RNN"

FIGURE_WEIGHT = ((1.0, 1.0), (-4.0, -3.0))  # the paper's W
INPUT_WEIGHT = ((1.0,), (0.0,))  # U
BIAS = (0.5, -0.5)  # b
READOUT = ((1.0, 0.0),)  # c
SIGNS = {"official": -1.0, "paper": 1.0}  # A = sign * W in dh/dt = tanh(A h + U x + b)
PHASE_INPUTS = (-1.0, -0.3, 0.0, 0.3, 1.0)  # Heaviside inputs drawn in the phase portrait
NON_DECAYING = "non-decaying"


@dataclass
class Config:
    """Settings of Figure 11."""

    leaks: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    seeds: int = 10
    hidden_size: int = 16
    length: int = 1501  # (a): t = 0..1500 with dt = 1
    periodic_dt: float = 0.01
    periodic_t_max: float = 200.0
    input_bound: float = 1.0
    min_correlation: float = 0.99
    min_amplitude_ratio: float = 0.9
    period_tolerance: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        self.leaks = tuple(float(v) for v in self.leaks)
        if not self.leaks or any(not np.isfinite(v) or v < 0 for v in self.leaks):
            raise ValueError(
                f"leaks must be a non-empty tuple of finite numbers >= 0, got {self.leaks}"
            )
        check_positive_int("seeds", self.seeds)
        check_positive_int("hidden_size", self.hidden_size)
        if check_positive_int("length", self.length) < 1001:
            raise ValueError(f"length must be >= 1001 (memory up to t > 1000), got {self.length}")
        dt = check_positive_float("periodic_dt", self.periodic_dt)
        t_max = check_positive_float("periodic_t_max", self.periodic_t_max)
        if t_max < 100 or dt > 0.05:
            raise ValueError(
                "periodic_t_max must be >= 100 (several periods of about 13) and periodic_dt "
                f"<= 0.05 (Euler period error), got {t_max}, {dt}"
            )
        self.input_bound = check_bound("input_bound", self.input_bound)
        for name in ("min_correlation", "min_amplitude_ratio", "period_tolerance"):
            if check_positive_float(name, getattr(self, name)) > 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        check_nonnegative_int("seed", self.seed)


PRESETS: dict[str, Config] = {
    "quick": Config(leaks=(0.0, 0.5, 1.0), seeds=4, length=1201, periodic_dt=0.02),
    "paper": Config(),
}


# ------------------------------------------------------------------------- (a) random


def random_memory_unit(
    context: UnitContext,
    leak: float,
    model_seed: int,
    hidden_size: int,
    length: int,
    input_bound: float,
) -> dict:
    """Memory and decay law of one random Euler tanh RNN."""
    teacher = RandomRNNTeacher(hidden_size=hidden_size, seed=model_seed, dt=1.0, leak=leak)
    memory = measure_memory(teacher, length, 1.0, "heaviside", input_bound, seed=context.seed)
    return {**memory_record(memory, fit_law(memory)), "leak": leak}


# ------------------------------------------------------------------------ (b) periodic


def two_dimensional_rnn(sign: float, dt: float) -> ContinuousRNN:
    """``dh/dt = tanh(sign W h + U x + b)``, ``y = c . h``: the figure's W, U, b, c, float64."""
    model = ContinuousRNN(2, 1, 1, "tanh", "direct", "dense", dt=dt).double()
    with torch.no_grad():
        model.recurrent_weight.copy_(sign * torch.tensor(FIGURE_WEIGHT, dtype=torch.float64))
        model.input_kernel.weight.copy_(torch.tensor(INPUT_WEIGHT, dtype=torch.float64))
        model.input_kernel.bias.copy_(torch.tensor(BIAS, dtype=torch.float64))
        model.readout.weight.copy_(torch.tensor(READOUT, dtype=torch.float64))
    return model


def velocity_trajectory(model: ContinuousRNN, x: float, steps: int) -> np.ndarray:
    """``v_k = (h_{k+1} - h_k) / dt`` under the Heaviside input x: ``(steps, 2)``."""
    inputs = torch.full((1, steps, 1), float(x), dtype=torch.float64)
    with torch.no_grad():
        h = model.hidden_states(inputs)[0]  # (steps, 2): h_1..h_T
    h = torch.cat([torch.zeros(1, 2, dtype=h.dtype), h])
    return (torch.diff(h, dim=0) / model.dt).numpy()


def periodic_memory_unit(
    context: UnitContext, sign_name: str, dt: float, t_max: float, input_bound: float
) -> dict:
    """Memory of the 2-D example with one sign convention; period and phase trajectories."""
    model = two_dimensional_rnn(SIGNS[sign_name], dt)
    length = int(round(t_max / dt)) + 1
    memory = measure_memory(model, length, dt, "heaviside", input_bound, seed=context.seed)
    record = memory_record(memory, fit_law(memory))
    thin = max(1, int(round(0.05 / dt)))  # store curves every 0.05 time units
    record["t"], record["values"] = record["t"][::thin], record["values"][::thin]
    record["maximizer_scale"] = record["maximizer_scale"][::thin]
    record["periodicity"] = estimate_period(memory.t, memory.values, min_period=1.0).to_dict()
    record["trajectories"] = {
        f"{x:g}": velocity_trajectory(model, x, length)[::thin].tolist() for x in PHASE_INPUTS
    }
    record["sign"] = sign_name
    return record


def reference_orbit_unit(context: UnitContext, t_max: float) -> dict:
    """Orbit period of ``dv/dt = (1 - v^2)(-W v)`` by scipy (rtol 1e-12), from v(0) = tanh(b)."""
    from scipy.integrate import solve_ivp

    weight = SIGNS["official"] * np.asarray(FIGURE_WEIGHT)

    def upward_crossing(_t: float, v: np.ndarray) -> float:  # v2 crosses 0 upwards
        return v[1]

    upward_crossing.direction = 1.0
    solution = solve_ivp(
        lambda _t, v: tanh_velocity_field(weight, v),
        (0.0, 4.0 * t_max),
        np.tanh(np.asarray(BIAS)),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        events=upward_crossing,
        dense_output=True,
    )
    crossings = solution.t_events[0]
    periods = np.diff(crossings[len(crossings) // 2 :])  # settled on the cycle
    period = float(np.median(periods))
    last = crossings[-1]
    orbit = solution.sol(np.linspace(last - period, last, 400)).T
    return {
        "orbit_period": period,
        "period_spread": float(np.ptp(periods)),
        "orbit": orbit.tolist(),
        "method": "scipy solve_ivp DOP853, rtol = atol = 1e-12",
    }


# --------------------------------------------------------------------------- units


def units(config: Config) -> list[Unit]:
    out = []
    for leak in config.leaks:
        for index in range(config.seeds):
            key = f"random/leak={leak:g}/seed{index}"
            params = {
                "leak": leak,
                "model_seed": derive_seed(key, config.seed),
                "hidden_size": config.hidden_size,
                "length": config.length,
                "input_bound": config.input_bound,
            }
            out.append(Unit(key, random_memory_unit, params))
    for sign_name in SIGNS:
        params = {
            "sign_name": sign_name,
            "dt": config.periodic_dt,
            "t_max": config.periodic_t_max,
            "input_bound": config.input_bound,
        }
        out.append(Unit(f"periodic/{sign_name}-sign", periodic_memory_unit, params))
    out.append(Unit("periodic/reference", reference_orbit_unit, {"t_max": config.periodic_t_max}))
    return out


def assemble(config: Config, results: dict[str, dict]) -> dict:
    random_models = []
    for leak in config.leaks:
        for index in range(config.seeds):
            record = results[f"random/leak={leak:g}/seed{index}"]
            random_models.append({"leak": leak, "seed_index": index, **record})
    return {
        "experiment": "fig11",
        "input_bound": config.input_bound,
        "leaks": list(config.leaks),
        "random": random_models,
        "periodic": {sign: results[f"periodic/{sign}-sign"] for sign in SIGNS},
        "reference": results["periodic/reference"],
        "thresholds": {
            "min_correlation": config.min_correlation,
            "min_amplitude_ratio": config.min_amplitude_ratio,
            "period_tolerance": config.period_tolerance,
        },
    }


# ---------------------------------------------------------------------------- views


def law_counts(results: dict) -> dict[str, dict[str, int]]:
    """``{leak: {law: count}}`` over the random networks (leak as a string)."""
    counts: dict[str, dict[str, int]] = {}
    for model in results["random"]:
        per_leak = counts.setdefault(f"{model['leak']:g}", {})
        law = model["fit"]["law"]
        per_leak[law] = per_leak.get(law, 0) + 1
    return counts


def period_check(results: dict) -> dict:
    """Measured memory period vs half the reference orbit period."""
    periodicity = results["periodic"]["official"]["periodicity"]
    expected = 0.5 * results["reference"]["orbit_period"]
    period = periodicity["period"]
    return {
        "memory_period": period,
        "expected_period": expected,
        "relative_error": abs(period - expected) / expected if np.isfinite(period) else None,
        "correlation": periodicity["correlation"],
        "amplitude_ratio": periodicity["amplitude_ratio"],
        "orbit_period": results["reference"]["orbit_period"],
    }


def plot(results: dict):
    """(a) random memories (log-log), (b) phase portrait, (c) periodic memory."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.4))
    ax = axes[0]
    cmap = plt.get_cmap("viridis")
    leaks = results["leaks"]
    for model in results["random"]:
        t, v = np.asarray(model["t"]), np.asarray(model["values"])
        keep = (t > 0) & (v > 0)
        shade = cmap(leaks.index(model["leak"]) / max(1, len(leaks) - 1))
        label = f"leak {model['leak']:g}" if model["seed_index"] == 0 else None
        ax.loglog(t[keep], v[keep], color=shade, lw=0.8, alpha=0.8, label=label)
    counts = law_counts(results)
    text = "; ".join(
        f"leak {k}: " + ", ".join(f"{n} {law}" for law, n in c.items()) for k, c in counts.items()
    )
    ax.set_title("(a) random tanh RNNs (eq 3, Euler dt=1)", fontsize=9)
    ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=5, va="bottom", wrap=True)
    ax.set_xlabel("t")
    ax.set_ylabel(f"M(t), |x|_inf <= {results['input_bound']:g}")
    ax.legend(fontsize=7)

    ax = axes[1]
    official = results["periodic"]["official"]
    weight = SIGNS["official"] * np.asarray(FIGURE_WEIGHT)
    grid = np.linspace(-0.999, 0.999, 41)
    v1, v2 = np.meshgrid(grid, grid)
    field = tanh_velocity_field(weight, np.stack([v1, v2]))
    ax.streamplot(v1, v2, field[0], field[1], color="0.8", density=0.9, linewidth=0.6)
    for x, trajectory in official["trajectories"].items():
        path = np.asarray(trajectory)
        ax.plot(path[:, 0], path[:, 1], lw=0.9, label=f"x = {x}")
    orbit = np.asarray(results["reference"]["orbit"])
    ax.plot(orbit[:, 0], orbit[:, 1], "k--", lw=1.0, label="limit cycle (scipy)")
    fixed = np.array([[0, 0], [1, 1], [-1, -1], [1, -1], [-1, 1]])
    ax.plot(fixed[:, 0], fixed[:, 1], "ko", ms=4)
    ax.set_xlabel("v1 = dh1/dt")
    ax.set_ylabel("v2 = dh2/dt")
    ax.set_title("(b) W = [[1,1],[-4,-3]], dh/dt = tanh(Ux + b - W h): phase portrait", fontsize=9)
    ax.legend(fontsize=6, loc="upper left")

    ax = axes[2]
    check = period_check(results)
    for sign, style in (("official", "-"), ("paper", ":")):
        data = results["periodic"][sign]
        label = f"{sign} sign: {data['fit']['law']}"
        ax.plot(data["t"], data["values"], style, lw=0.9, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("M(t)")
    ax.set_title(
        f"(c) periodic memory, period {check['memory_period']:.4g} "
        f"(half orbit period {check['expected_period']:.4g})",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def claims(results: dict) -> list[Claim]:
    counts = law_counts(results)
    total = len(results["random"])
    non_decaying = sum(c.get(NON_DECAYING, 0) for c in counts.values())
    laws = {law for c in counts.values() for law in c}
    fractions = {leak: c.get(NON_DECAYING, 0) / sum(c.values()) for leak, c in counts.items()}
    check = period_check(results)
    thresholds = results["thresholds"]
    periodic = bool(
        check["relative_error"] is not None
        and check["relative_error"] <= thresholds["period_tolerance"]
        and check["correlation"] >= thresholds["min_correlation"]
        and check["amplitude_ratio"] >= thresholds["min_amplitude_ratio"]
    )
    return [
        Claim(
            "fig11.non_decaying_exist",
            "random tanh RNNs (eq 3) include networks with non-decaying memory "
            f"(|x|_inf <= {results['input_bound']:g}): fit_decay's law is 'non-decaying' "
            "for at least one of them",
            non_decaying > 0,
            {"non_decaying": non_decaying, "total": total, "fraction_by_leak": fractions},
        ),
        Claim(
            "fig11.diverse",
            "their memory patterns are diverse: exponentially decaying and non-decaying "
            "memories both occur",
            bool("exponential" in laws and NON_DECAYING in laws),
            {"law_counts": counts},
        ),
        Claim(
            "fig11.periodic",
            "the 2-D tanh RNN with W = [[1,1],[-4,-3]] (official-code sign, dh/dt = "
            "tanh(Ux + b - W h)) has a periodic memory: self-correlation at the measured "
            f"period >= {thresholds['min_correlation']:g}, amplitude sustained (last/first "
            f"period >= {thresholds['min_amplitude_ratio']:g}), and the period equals half "
            "the limit-cycle period of an independent high-accuracy ODE solve within "
            f"{100 * thresholds['period_tolerance']:g}% (Euler's O(dt) error is below that)",
            periodic,
            check,
        ),
    ]


def summary(results: dict) -> list[str]:
    counts = law_counts(results)
    check = period_check(results)
    lines = [
        f"leak {leak}: " + ", ".join(f"{n} {law}" for law, n in sorted(c.items()))
        for leak, c in counts.items()
    ]
    lines.append(
        f"2-D example: memory period {check['memory_period']:.4g} vs half orbit period "
        f"{check['expected_period']:.4g} (correlation {check['correlation']:.4f}); with eq 3's "
        f"sign the memory is {results['periodic']['paper']['fit']['law']}"
    )
    return lines
