"""Appendix J: the continuous GRU's linearisation, and whether it sets the memory decay.

For the continuous GRU ``dh/dt = z * (h_hat - h)`` (paper eqs 136-142) with zero input,
``h* = 0`` is an equilibrium when ``b_h = 0`` (eq 143) and the linearisation there is
(eq 144)::

    J_144 = Diag(sigma(b_z)) (U_h Diag(sigma(b_r)) - I).

The paper argues that stable approximation makes ``J_144`` Hurwitz, and leaves
``b_h != 0`` (then h* = 0 is not an equilibrium) open. For random GRUs (PyTorch's
default init, with ``b_h`` zeroed and as drawn) and for GRUs trained on the exp and pol
targets we measure:

- the spectrum of ``J_144``: Hurwitz or not;
- the zero-input equilibrium h* actually reached (relaxation + Newton) and the Jacobian
  J* of the vector field there (autograd); J* = J_144 when b_h = 0;
- the memory of the hidden state under impulse inputs (paper eq 121): after the impulse
  the state relaxes back to h*, so its tail decays at the rate of the Euler map of J*,
  ``-log max|1 + dt lambda| / dt`` (``-max Re lambda`` up to O(dt)). The default
  ``dt = 1`` is the discrete GRU (eq 134), whose rate differs visibly from
  ``-max Re lambda``; the comparison uses the Euler map's rate;
- the memory under Heaviside inputs ``|x|_inf <= 1`` (eq 7): the state settles at the
  equilibrium h*(x) of the input x, so the sup over x decays at the slowest of those
  rates over constant inputs ``|x| <= 1`` (a grid of 21 inputs).

Measured rates are the rates of ``fit_decay``'s exponential fit on the tail of the
memory (after its envelope has fallen below 1e-3 of its peak, so faster modes have died
out), whatever law ``fit_decay`` assigns (reported beside it). They match a prediction
when within ``rate_tolerance`` (10%) plus the slowest mode's angular frequency w: the
tail still carries the next-slowest modes (a few % here), and a complex pair
``e^{-r t} cos(w t)`` tilts a log-linear fit over less than a period by up to about w;
a wrong eigenvalue would typically be off by much more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.analysis.dynamics import (
    eigenvalues,
    euler_decay_rate,
    euler_leading_mode,
    find_equilibrium,
    gru_gate_biases,
    gru_linearisation,
    jacobian,
)
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._memory_probe import (
    check_bound,
    envelope_horizon,
    fit_law,
    measure_memory,
)
from curse_of_memory.experiments._units import Unit, UnitContext, derive_seed
from curse_of_memory.models.gated import ContinuousGRU
from curse_of_memory.targets import LinearFunctional, make_dataset
from curse_of_memory.training import train

DESCRIPTION = "App J: is the GRU linearisation (eq 144) Hurwitz, and does it set the memory decay?"

TARGETS = {"exp": {"rate": 1.0}, "pol": {"power": 1.5}}  # exp: e^-t; pol: 1/(1+t)^1.5
RANDOM_KINDS = ("random-bh0", "random")  # b_h zeroed (eq 143 holds) / PyTorch default init
TAIL_LEVEL = 1e-3  # tail of the memory: after its envelope stays below this x peak
MAX_RESIDUAL = 1e-9  # an equilibrium counts as found when max|f(h*)| is below this


@dataclass
class Config:
    """Settings of the Appendix J check."""

    hidden_size: int = 16
    random_seeds: int = 10
    trained_seeds: int = 3
    targets: tuple[str, ...] = ("exp", "pol")
    dt: float = 1.0  # the discrete GRU (eq 134) is the Euler map of eq 136 with dt = 1
    memory_t_max: float = 150.0
    train_length: int = 64
    train_samples: int = 2048
    epochs: int = 200
    lr: float = 0.01
    batch_size: int = 64
    input_bound: float = 1.0
    heaviside_inputs: int = 21
    rate_tolerance: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("hidden_size", self.hidden_size)
        check_nonnegative_int("random_seeds", self.random_seeds)
        check_nonnegative_int("trained_seeds", self.trained_seeds)
        self.targets = tuple(self.targets)
        for target in self.targets:
            check_choice("target", target, TARGETS)
        if self.random_seeds + self.trained_seeds * len(self.targets) == 0:
            raise ValueError("nothing to measure: random_seeds and trained_seeds x targets are 0")
        check_positive_float("dt", self.dt)
        if check_positive_float("memory_t_max", self.memory_t_max) < 20 * self.dt:
            raise ValueError(f"memory_t_max must be >= 20 dt, got {self.memory_t_max}")
        if check_positive_int("train_length", self.train_length) < 2:
            raise ValueError(f"train_length must be >= 2, got {self.train_length}")
        check_positive_int("train_samples", self.train_samples)
        check_positive_int("epochs", self.epochs)
        check_positive_float("lr", self.lr)
        check_positive_int("batch_size", self.batch_size)
        self.input_bound = check_bound("input_bound", self.input_bound)
        if math.isinf(self.input_bound):
            raise ValueError(
                "input_bound must be finite here (equilibria are scanned over |x| <= bound)"
            )
        if check_positive_int("heaviside_inputs", self.heaviside_inputs) < 3:
            raise ValueError(f"heaviside_inputs must be >= 3, got {self.heaviside_inputs}")
        tol = check_positive_float("rate_tolerance", self.rate_tolerance)
        if tol >= 1:
            raise ValueError(f"rate_tolerance must be in (0, 1), got {tol}")
        check_nonnegative_int("seed", self.seed)


PRESETS: dict[str, Config] = {
    "quick": Config(
        random_seeds=2,
        trained_seeds=1,
        train_samples=256,
        train_length=32,
        epochs=20,
        heaviside_inputs=11,
    ),
    "paper": Config(),
}


# ------------------------------------------------------------------------- analysis


def _field(model: ContinuousGRU, x: float):
    """``h (m,) -> dh/dt (m,)`` under the constant input x."""
    inputs = torch.full((1, model.input_size), float(x), dtype=torch.float64)
    return lambda h: model.vector_field(h[None], inputs)[0]


def _equilibrium_rate(
    model: ContinuousGRU, x: float, start: torch.Tensor
) -> tuple[torch.Tensor, float, np.ndarray]:
    """Equilibrium under input x (from ``start``), its residual and the Jacobian's eigenvalues."""
    field = _field(model, x)
    state, residual = find_equilibrium(field, start)
    return state, residual, eigenvalues(jacobian(field, state))


def _tail_rate(memory) -> dict:
    """Exponential rate fitted to the tail (envelope below TAIL_LEVEL x peak) and the law."""
    start = envelope_horizon(memory.t, memory.values, TAIL_LEVEL)
    fit = fit_law(memory, t_start=start) if math.isfinite(start) else None
    if fit is None or fit.exp_rate is None:
        fit = fit_law(memory)
    return {"tail_rate": fit.exp_rate, "law": fit.law, "fit": fit.to_dict()}


def _complex_list(values: np.ndarray) -> list[list[float]]:
    return [[float(v.real), float(v.imag)] for v in values]


def analyse_gru(
    model: ContinuousGRU, length: int, input_bound: float, n_inputs: int, seed: int
) -> dict:
    """Spectra, equilibria and memory rates of one GRU (see the module docstring)."""
    model = model.double().eval()
    dt = model.dt
    j144 = gru_linearisation(model)
    ev144 = eigenvalues(j144)
    m = model.hidden_size
    h_star, residual, ev_star = _equilibrium_rate(model, 0.0, torch.zeros(m, dtype=torch.float64))
    j_star = jacobian(_field(model, 0.0), h_star)
    # Heaviside: equilibria along x in [-bound, bound], by continuation from x = 0.
    grid = np.linspace(-input_bound, input_bound, n_inputs)
    rates = {}
    for half in (grid[grid >= 0], grid[grid <= 0][::-1]):
        state = h_star
        for x in half:
            state, res, ev = _equilibrium_rate(model, float(x), state)
            rates[float(x)] = (*euler_leading_mode(ev, dt), res)
    slowest_x = min(rates, key=lambda x: rates[x][0])
    impulse_rate, impulse_frequency = euler_leading_mode(ev_star, dt)

    def hidden(x: torch.Tensor) -> torch.Tensor:
        return model.hidden_states(x)

    measured = {}
    for kind in ("impulse", "heaviside"):
        memory = measure_memory(hidden, length, dt, kind, input_bound, input_dim=1, seed=seed)
        measured[kind] = _tail_rate(memory)
    return {
        "dt": dt,
        "b_h_max_abs": float(gru_gate_biases(model)["h"].abs().max()),
        "eq144_eigenvalues": _complex_list(ev144),
        "eq144_abscissa": float(ev144.real.max()),
        "equilibrium_norm": float(h_star.abs().max()),
        "equilibrium_residual": residual,
        "jacobian_vs_eq144": float((j_star - j144).abs().max()),
        "jacobian_eigenvalues": _complex_list(ev_star),
        "jacobian_abscissa": float(ev_star.real.max()),
        "predicted_impulse_rate": impulse_rate,
        "predicted_impulse_frequency": impulse_frequency,
        "eq144_rate": euler_decay_rate(ev144, dt),
        "predicted_heaviside_rate": rates[slowest_x][0],
        "predicted_heaviside_frequency": rates[slowest_x][1],
        "slowest_input": slowest_x,
        "max_equilibrium_residual": max(res for _, _, res in rates.values()),
        "measured": measured,
    }


# ---------------------------------------------------------------------------- units


def _new_gru(hidden_size: int, dt: float, seed: int, zero_candidate_bias: bool) -> ContinuousGRU:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ContinuousGRU(hidden_size, 1, 1, dt=dt).double()
    if zero_candidate_bias:
        m = hidden_size
        with torch.no_grad():
            model.bias_ih[2 * m :] = 0.0
            model.bias_hh[2 * m :] = 0.0
    return model


def gru_unit(
    context: UnitContext,
    source: str,
    target: str | None,
    model_seed: int,
    hidden_size: int,
    dt: float,
    length: int,
    input_bound: float,
    heaviside_inputs: int,
    train_settings: dict | None = None,
) -> dict:
    """One GRU (random, or trained on ``target``) and its spectra and memory rates."""
    model = _new_gru(hidden_size, dt, model_seed, zero_candidate_bias=source == "random-bh0")
    training = None
    if source == "trained":
        settings = dict(train_settings)
        data = make_dataset(
            LinearFunctional.named(target, **TARGETS[target]),
            n=settings.pop("samples"),
            length=settings.pop("length"),
            dt=dt,
            seed=model_seed,
        )
        checkpoint = None
        if context.checkpoint_dir is not None:
            checkpoint = context.checkpoint_dir / "train.pt"
        result = train(
            model,
            data,
            **settings,
            seed=model_seed,
            progress=context.progress,
            checkpoint_path=checkpoint,
            resume=checkpoint is not None and checkpoint.is_file(),
        )
        training = {
            "best_val_loss": result.best_val_loss,
            "epochs_run": result.epochs_run,
            "diverged": result.diverged,
        }
    analysis = analyse_gru(model, length, input_bound, heaviside_inputs, context.seed)
    return {"source": source, "target": target, "training": training, **analysis}


def units(config: Config) -> list[Unit]:
    common = {
        "hidden_size": config.hidden_size,
        "dt": config.dt,
        "length": int(round(config.memory_t_max / config.dt)) + 1,
        "input_bound": config.input_bound,
        "heaviside_inputs": config.heaviside_inputs,
    }
    out = []
    for source in RANDOM_KINDS:
        for index in range(config.random_seeds):
            key = f"{source}/seed{index}"
            seed = derive_seed(f"random/seed{index}", config.seed)  # same weights for both
            params = {**common, "source": source, "target": None, "model_seed": seed}
            out.append(Unit(key, gru_unit, params))
    settings = {
        "samples": config.train_samples,
        "length": config.train_length,
        "epochs": config.epochs,
        "lr": config.lr,
        "batch_size": config.batch_size,
    }
    for target in config.targets:
        for index in range(config.trained_seeds):
            key = f"trained/{target}/seed{index}"
            params = {
                **common,
                "source": "trained",
                "target": target,
                "model_seed": derive_seed(key, config.seed),
                "train_settings": settings,
            }
            out.append(Unit(key, gru_unit, params))
    return out


def assemble(config: Config, results: dict[str, dict]) -> dict:
    models = [{"key": unit.key, **results[unit.key]} for unit in units(config)]
    return {
        "experiment": "appJ",
        "input_bound": config.input_bound,
        "rate_tolerance": config.rate_tolerance,
        "dt": config.dt,
        "models": models,
    }


# ---------------------------------------------------------------------------- views


def _relative_error(measured: float | None, predicted: float) -> float | None:
    if measured is None or predicted <= 0:
        return None
    return abs(measured - predicted) / predicted


def rate_check(model: dict, kind: str, tolerance: float) -> dict:
    """Measured tail rate of ``kind`` against the prediction, with the allowed deviation.

    Allowed: ``tolerance`` x the predicted rate plus the slowest mode's angular
    frequency (``e^{-r t} cos(w t)`` tilts a log-linear fit over less than a period by
    up to about ``w``). A prediction needs its equilibria found (residual <= 1e-9).
    """
    residual_key = "equilibrium_residual" if kind == "impulse" else "max_equilibrium_residual"
    found = model[residual_key] <= MAX_RESIDUAL
    measured = model["measured"][kind]["tail_rate"]
    predicted = model[f"predicted_{kind}_rate"]
    allowed = tolerance * predicted + model[f"predicted_{kind}_frequency"]
    passed = (
        found and measured is not None and predicted > 0 and abs(measured - predicted) <= allowed
    )
    return {
        "measured": measured,
        "predicted": predicted,
        "relative_error": _relative_error(measured, predicted),
        "allowed_relative": allowed / predicted if predicted > 0 else None,
        "equilibrium_found": bool(found),
        "passed": bool(passed),
    }


def plot(results: dict):
    """(a) eq-144 spectra, (b) measured vs predicted impulse rates, (c) Heaviside rates."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14.0, 4.2))
    colours = {"random-bh0": "C0", "random": "C1", "trained": "C2"}
    seen: set[str] = set()
    for model in results["models"]:
        group = model["source"] if model["source"] != "trained" else f"trained ({model['target']})"
        colour = colours[model["source"]]
        marker = "^" if model["target"] == "pol" else "o"
        label = None if group in seen else group
        seen.add(group)
        ev = np.asarray(model["eq144_eigenvalues"])
        axes[0].scatter(ev[:, 0], ev[:, 1], s=8, color=colour, marker=marker, label=label)
        for ax, kind in ((axes[1], "impulse"), (axes[2], "heaviside")):
            key = f"predicted_{kind}_rate"
            rate = model["measured"][kind]["tail_rate"]
            if rate is not None:
                ax.scatter(model[key], rate, color=colour, marker=marker, s=18, label=label)
        impulse_rate = model["measured"]["impulse"]["tail_rate"]
        if impulse_rate is not None and model["b_h_max_abs"] > 0:  # eq 144 is not at h*
            eq144_label = None if "eq144" in seen else "eq 144 at h = 0 (b_h != 0)"
            seen.add("eq144")
            hollow = {"facecolors": "none", "edgecolors": colour, "marker": marker, "s": 40}
            axes[1].scatter(model["eq144_rate"], impulse_rate, label=eq144_label, **hollow)
    axes[0].axvline(0.0, color="k", lw=0.8)
    axes[0].set_xlabel("Re lambda")
    axes[0].set_ylabel("Im lambda")
    axes[0].set_title("(a) eigenvalues of Diag(s(b_z))(U_h Diag(s(b_r)) - I), eq 144", fontsize=9)
    titles = (
        "(b) impulse memory: tail rate vs linearisation at h*",
        f"(c) Heaviside |x| <= {results['input_bound']:g}: slowest over x",
    )
    for ax, title in zip(axes[1:], titles, strict=True):
        lims = np.array(ax.get_xlim() + ax.get_ylim())
        lo, hi = max(lims.min(), 1e-3), lims.max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("predicted rate (Euler map of the Jacobian)")
        ax.set_ylabel("measured memory decay rate")
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def claims(results: dict) -> list[Claim]:
    models = results["models"]
    tol = results["rate_tolerance"]
    random_models = [m for m in models if m["source"] != "trained"]
    trained = [m for m in models if m["source"] == "trained"]
    open_case = [m for m in models if m["b_h_max_abs"] > 0]
    impulse = {m["key"]: rate_check(m, "impulse", tol) for m in models}
    heaviside = {m["key"]: rate_check(m, "heaviside", tol) for m in models}

    def hurwitz(group: list[dict]) -> dict:
        return {m["key"]: m["eq144_abscissa"] for m in group}

    out = []
    hurwitz_groups = (
        ("eq144_hurwitz_random", random_models, "random"),
        ("eq144_hurwitz_trained", trained, "trained (exp, pol)"),
    )
    for ident, group, who in hurwitz_groups:
        if group:
            out.append(
                Claim(
                    f"appJ.{ident}",
                    f"Diag(sigma(b_z))(U_h Diag(sigma(b_r)) - I) (eq 144) is Hurwitz (max Re "
                    f"eigenvalue < 0) for every {who} GRU",
                    all(m["eq144_abscissa"] < 0 for m in group),
                    {"abscissa": hurwitz(group)},
                )
            )
    out.append(
        Claim(
            "appJ.impulse_rate_matches",
            "the impulse memory decays at the rate of the linearisation at the zero-input "
            "equilibrium (eq 144 when b_h = 0): the tail rate is within "
            f"{100 * tol:g}% (plus the mode's angular frequency) of -log max|1 + dt lambda| / dt "
            "for every GRU",
            all(check["passed"] for check in impulse.values()),
            impulse,
        )
    )
    if open_case:
        out.append(
            Claim(
                "appJ.bh_nonzero",
                "[beyond the paper] with b_h != 0, h* = 0 is not an equilibrium; the Jacobian "
                "at the equilibrium actually reached is Hurwitz and predicts the impulse "
                "memory's rate as above (eq 144 evaluated at 0 is off by the 'impulse_vs_eq144' "
                "relative errors listed)",
                all(m["jacobian_abscissa"] < 0 and impulse[m["key"]]["passed"] for m in open_case),
                {
                    m["key"]: {
                        "b_h_max_abs": m["b_h_max_abs"],
                        "equilibrium_norm": m["equilibrium_norm"],
                        "jacobian_abscissa": m["jacobian_abscissa"],
                        "eq144_abscissa": m["eq144_abscissa"],
                        "impulse_error": impulse[m["key"]]["relative_error"],
                        "impulse_vs_eq144": _relative_error(
                            m["measured"]["impulse"]["tail_rate"], m["eq144_rate"]
                        ),
                    }
                    for m in open_case
                },
            )
        )
    out.append(
        Claim(
            "appJ.heaviside_rate",
            f"[beyond the paper] the Heaviside memory (|x|_inf <= {results['input_bound']:g}) "
            "decays at the slowest linearised rate over the equilibria of constant inputs "
            f"|x| <= {results['input_bound']:g}, within {100 * tol:g}% (plus the mode's angular "
            "frequency), for every GRU",
            all(check["passed"] for check in heaviside.values()),
            {
                key: {**check, "slowest_input": m["slowest_input"]}
                for (key, check), m in zip(heaviside.items(), models, strict=True)
            },
        )
    )
    return out


def summary(results: dict) -> list[str]:
    lines = []
    for source in ("random-bh0", "random", "trained"):
        group = [m for m in results["models"] if m["source"] == source]
        if not group:
            continue
        hurwitz = sum(m["eq144_abscissa"] < 0 for m in group)
        worst = max(
            rate_check(m, "impulse", results["rate_tolerance"])["relative_error"] or math.inf
            for m in group
        )
        lines.append(
            f"{source}: eq 144 Hurwitz for {hurwitz}/{len(group)}; impulse-rate error at most "
            f"{100 * worst:.3g}%"
        )
    return lines
