"""Figure 10 (Appendix H): Heaviside and impulse memory functions of random networks.

Randomly initialised ``torch.nn.RNN`` (tanh), ``GRU`` and ``LSTM`` with 1-4 layers on
t in [0, 120], and S4D-style diagonal state-space stacks
(:class:`~curse_of_memory.models.S4DModel`) with 1-3 layers on t in [0, 2000]; every
model under Heaviside inputs (paper eq 7) and impulse inputs (paper eq 121), with the
sup over bounded inputs ``0 < |x|_inf <= 1`` as in the paper's Appendix H. Steps are
``dt = 1`` (one step of the discrete networks per time unit). The output measured is the
last layer's state sequence (max-norm over its channels). Figure: median over the seeds
with a 10-90 percentile band.

The paper: "the memory functions evaluated over different test inputs are qualitatively
equivalent". How agreement is measured (fixed before running): for every architecture
and depth, ``fit_decay`` is applied to the seed-median Heaviside and impulse curves.

- Both verdicts exponential or polynomial: they agree when the law is the same and the
  rates (exponential) or exponents (polynomial) differ by less than ``rate_factor`` (2).
- One verdict non-decaying, the other a decaying law (exponential, polynomial, other):
  they disagree.
- Any other verdict (no single law fits: ``other``; no verdict: ``undetermined``): the
  times after which the envelopes stay below 1% of their peak must be within the same
  factor (both never: agree).

A factor 2 is "the same order": a linear model gives equal curves (factor 1), while two
different laws or a rate off by more than 2 would be a qualitatively different memory.
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
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._memory_probe import (
    check_bound,
    check_names,
    envelope_horizon,
    fit_law,
    loglog_band,
    measure_memory,
    median_band,
    memory_record,
)
from curse_of_memory.experiments._units import Unit, UnitContext, derive_seed
from curse_of_memory.models.s4d import S4DModel

DESCRIPTION = "Fig 10: Heaviside vs impulse memory of random RNN/GRU/LSTM (1-4 layers) and S4D"

ARCHITECTURES = ("rnn", "gru", "lstm", "s4d")
KINDS = ("heaviside", "impulse")
_LABELS = {"rnn": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM", "s4d": "S4D-style SSM"}
_TORCH_CLASSES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def _check_layers(name: str, layers: tuple[int, ...]) -> tuple[int, ...]:
    layers = tuple(check_positive_int(name, n) for n in layers)
    if not layers or len(set(layers)) != len(layers):
        raise ValueError(f"{name} must be a non-empty tuple of distinct layer counts, got {layers}")
    return layers


@dataclass
class Config:
    """Settings of Figure 10 (defaults: the paper's scale)."""

    architectures: tuple[str, ...] = ARCHITECTURES
    rnn_layers: tuple[int, ...] = (1, 2, 3, 4)
    s4d_layers: tuple[int, ...] = (1, 2, 3)
    seeds: int = 20
    input_size: int = 1
    hidden_size: int = 16  # RNN/GRU/LSTM width; S4D channels
    s4d_state_size: int = 64
    rnn_length: int = 121  # t = 0..120
    s4d_length: int = 2001  # t = 0..2000
    input_bound: float = 1.0
    rate_factor: float = 2.0
    horizon_level: float = 1e-2
    seed: int = 0

    def __post_init__(self) -> None:
        self.architectures = check_names("architectures", self.architectures, tuple(ARCHITECTURES))
        self.rnn_layers = _check_layers("rnn_layers", self.rnn_layers)
        self.s4d_layers = _check_layers("s4d_layers", self.s4d_layers)
        check_positive_int("seeds", self.seeds)
        check_positive_int("input_size", self.input_size)
        check_positive_int("hidden_size", self.hidden_size)
        check_positive_int("s4d_state_size", self.s4d_state_size)
        if self.s4d_state_size % 2:
            raise ValueError(f"s4d_state_size must be even, got {self.s4d_state_size}")
        for name in ("rnn_length", "s4d_length"):
            if check_positive_int(name, getattr(self, name)) < 16:
                raise ValueError(f"{name} must be >= 16 time points, got {getattr(self, name)}")
        self.input_bound = check_bound("input_bound", self.input_bound)
        if check_positive_float("rate_factor", self.rate_factor) < 1:
            raise ValueError(f"rate_factor must be >= 1, got {self.rate_factor}")
        level = check_positive_float("horizon_level", self.horizon_level)
        if level >= 1:
            raise ValueError(f"horizon_level must be in (0, 1), got {level}")
        check_nonnegative_int("seed", self.seed)

    def layers_of(self, architecture: str) -> tuple[int, ...]:
        return self.s4d_layers if architecture == "s4d" else self.rnn_layers

    def length_of(self, architecture: str) -> int:
        return self.s4d_length if architecture == "s4d" else self.rnn_length


PRESETS: dict[str, Config] = {
    "quick": Config(seeds=3, s4d_length=501),
    "paper": Config(),
}


def random_network(
    architecture: str,
    layers: int,
    seed: int,
    input_size: int = 1,
    hidden_size: int = 16,
    s4d_state_size: int = 64,
) -> torch.nn.Module:
    """A randomly initialised float64 network (PyTorch default init; S4D-Lin for ``s4d``)."""
    check_choice("architecture", architecture, ARCHITECTURES)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "s4d":
            model = S4DModel(input_size, hidden_size, layers, s4d_state_size)
        else:
            model = _TORCH_CLASSES[architecture](
                input_size, hidden_size, num_layers=layers, batch_first=True
            )
    return model.double()


def memory_unit(
    context: UnitContext,
    architecture: str,
    layers: int,
    kind: str,
    model_seed: int,
    input_size: int,
    hidden_size: int,
    s4d_state_size: int,
    length: int,
    input_bound: float,
) -> dict:
    """One memory measurement: one random network, one kind of test input."""
    model = random_network(
        architecture, layers, model_seed, input_size, hidden_size, s4d_state_size
    )
    memory = measure_memory(model, length, 1.0, kind, input_bound, seed=context.seed)
    return memory_record(memory, fit_law(memory))


def _model_key(architecture: str, layers: int, seed_index: int) -> str:
    return f"{architecture}/L{layers}/seed{seed_index}"


def units(config: Config) -> list[Unit]:
    """One unit per (architecture, depth, seed, kind); both kinds probe the same network."""
    out = []
    for arch in config.architectures:
        for layers in config.layers_of(arch):
            for index in range(config.seeds):
                model_key = _model_key(arch, layers, index)
                params = {
                    "architecture": arch,
                    "layers": layers,
                    "model_seed": derive_seed(model_key, config.seed),
                    "input_size": config.input_size,
                    "hidden_size": config.hidden_size,
                    "s4d_state_size": config.s4d_state_size,
                    "length": config.length_of(arch),
                    "input_bound": config.input_bound,
                }
                for kind in KINDS:
                    out.append(Unit(f"{model_key}/{kind}", memory_unit, {**params, "kind": kind}))
    return out


_RATE_KEYS = {"exponential": "rate", "polynomial": "exponent"}
_DECAYING = ("exponential", "polynomial", "other")


def definitions_agree(
    heaviside: dict, impulse: dict, factor: float, horizons: tuple[float, float]
) -> tuple[bool, str]:
    """Agreement rule of the module docstring on two ``DecayFit`` dicts; ``(agree, reason)``."""
    law_h, law_i = heaviside["law"], impulse["law"]
    laws = f"{law_h} vs {law_i}"
    if law_h in _RATE_KEYS and law_i in _RATE_KEYS:
        if law_h != law_i:
            return False, f"laws differ ({laws})"
        key = _RATE_KEYS[law_h]
        ratio = max(heaviside[key], impulse[key]) / min(heaviside[key], impulse[key])
        return ratio <= factor, f"{law_h}, {key} ratio {ratio:.3g}"
    if {law_h, law_i} & {"non-decaying"} and {law_h, law_i} & set(_DECAYING):
        return False, f"one decays, one does not ({laws})"
    h_a, h_b = horizons
    if math.isinf(h_a) and math.isinf(h_b):
        return True, f"{laws}, both envelopes stay above the horizon level"
    if math.isinf(h_a) or math.isinf(h_b) or min(h_a, h_b) <= 0:
        return False, f"{laws}, horizons {h_a:.4g} vs {h_b:.4g}"
    ratio = max(h_a, h_b) / min(h_a, h_b)
    return ratio <= factor, f"{laws}, horizon ratio {ratio:.3g}"


def assemble(config: Config, results: dict[str, dict]) -> dict:
    """Bands, median-curve fits and the agreement of the two definitions per group."""
    groups = []
    for arch in config.architectures:
        for layers in config.layers_of(arch):
            keys = [_model_key(arch, layers, i) for i in range(config.seeds)]
            group = {"architecture": arch, "layers": layers, "kinds": {}}
            for kind in KINDS:
                records = [results[f"{key}/{kind}"] for key in keys]
                t = records[0]["t"]
                band = median_band([r["values"] for r in records])
                median_fit = fit_law((np.asarray(t), np.asarray(band["median"]))).to_dict()
                group["kinds"][kind] = {
                    "t": t,
                    "band": band,
                    "median_fit": median_fit,
                    "horizon": envelope_horizon(t, band["median"], config.horizon_level),
                    "seed_laws": [r["fit"]["law"] for r in records],
                }
            heav, imp = group["kinds"]["heaviside"], group["kinds"]["impulse"]
            agree, reason = definitions_agree(
                heav["median_fit"],
                imp["median_fit"],
                config.rate_factor,
                (heav["horizon"], imp["horizon"]),
            )
            same_seed_law = [
                a == b for a, b in zip(heav["seed_laws"], imp["seed_laws"], strict=True)
            ]
            group["agreement"] = {
                "agree": agree,
                "reason": reason,
                "seed_same_law_fraction": float(np.mean(same_seed_law)),
            }
            groups.append(group)
    return {
        "experiment": "fig10",
        "input_bound": config.input_bound,
        "rate_factor": config.rate_factor,
        "horizon_level": config.horizon_level,
        "seeds": config.seeds,
        "groups": groups,
    }


def plot(results: dict):
    """Rows: architectures; columns: Heaviside, impulse. Median and 10-90% band per depth."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    archs = list(dict.fromkeys(g["architecture"] for g in results["groups"]))
    fig, axes = plt.subplots(len(archs), 2, figsize=(9.0, 2.9 * len(archs)), squeeze=False)
    bound = results["input_bound"]
    for row, arch in enumerate(archs):
        for col, kind in enumerate(KINDS):
            ax = axes[row][col]
            for group in (g for g in results["groups"] if g["architecture"] == arch):
                data = group["kinds"][kind]
                law = data["median_fit"]["law"]
                loglog_band(ax, data["t"], data["band"], f"{group['layers']} layer(s): {law}")
            ax.set_title(f"({chr(97 + 2 * row + col)}) {_LABELS[arch]}, {kind}", fontsize=9)
            ax.set_xlabel("t")
            ax.set_ylabel(f"M(t), |x|_inf <= {bound:g}")
            ax.legend(fontsize=6)
    fig.suptitle(
        f"Memory of random networks: median and 10-90% band over {results['seeds']} seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def claims(results: dict) -> list[Claim]:
    """The paper's Appendix H statement, with the agreement rule stated."""
    groups = results["groups"]
    numbers = {
        f"{g['architecture']}/L{g['layers']}": {
            "agree": g["agreement"]["agree"],
            "reason": g["agreement"]["reason"],
            "laws": {k: g["kinds"][k]["median_fit"]["law"] for k in KINDS},
            "seed_same_law_fraction": g["agreement"]["seed_same_law_fraction"],
        }
        for g in groups
    }
    factor = results["rate_factor"]
    statement = (
        f"Heaviside and impulse memory functions (inputs |x|_inf <= {results['input_bound']:g}) "
        "agree qualitatively: for every architecture and depth the seed-median curves get "
        f"the same decay law and rates/exponents within a factor {factor:g}; where either "
        "side gets no exponential/polynomial law, both decay or neither does, and the times "
        f"to stay below {results['horizon_level']:g} x peak agree within a factor {factor:g}"
    )
    passed = all(g["agreement"]["agree"] for g in groups)
    return [Claim("fig10.definitions_agree", statement, passed, numbers)]


def summary(results: dict) -> list[str]:
    """One line per architecture: depths whose two definitions agree, and the laws found."""
    lines = []
    archs = list(dict.fromkeys(g["architecture"] for g in results["groups"]))
    for arch in archs:
        groups = [g for g in results["groups"] if g["architecture"] == arch]
        agree = sum(g["agreement"]["agree"] for g in groups)
        laws = sorted({g["kinds"]["heaviside"]["median_fit"]["law"] for g in groups})
        lines.append(
            f"{_LABELS[arch]}: definitions agree at {agree}/{len(groups)} depths; "
            f"laws {', '.join(laws)}"
        )
    return lines
