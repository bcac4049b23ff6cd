"""Beyond the paper: the memory of gated networks depends on how large the inputs may be.

Definition 3.1 takes the sup over all Heaviside inputs x != 0. For saturating gated
networks the answer depends on the input size allowed: we measure the memory of random
``torch.nn.GRU`` / ``torch.nn.LSTM`` (PyTorch default init, width 16, ``dt = 1``) under
Heaviside inputs with ``0 < |x|_inf <= bound`` for several bounds (1, 10, 100 and the
unrestricted ``inf``).

Observation (fixed before running): at ``|x| <= 1`` the memories decay exponentially;
with the unrestricted sup they decay much more slowly, like a power law. Explanation:
a large constant input saturates the gates (GRU update gate z -> 0, LSTM forget gate
f -> 1), which slows the state's relaxation, so each input size s has its own
exponential decay with a rate that shrinks as s grows. The sup over s is the upper
envelope of this family of ever slower exponentials, a heavy tail; the maximising input
size grows with t. What is checked:

- ``bounded_exponential``: at bound 1, at least 80% of the networks get the law
  ``exponential`` from ``fit_decay``;
- ``unrestricted_heavy_tail``: with the unrestricted sup, at least 80% get a decaying
  non-exponential law (``polynomial`` or ``other``);
- ``growing_maximiser``: for at least 80% of the networks, the maximising input size of
  the unrestricted sup increases with t (Spearman rank correlation with t >= 0.8 over
  t >= 10) and leaves the bounded range (median over the last quarter > 1): the
  envelope is made of ever larger, more saturated inputs.

80%, not every network: the statement is about typical random initialisations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from curse_of_memory._validation import check_nonnegative_int, check_positive_int
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._memory_probe import (
    bound_label,
    check_bound,
    check_names,
    fit_law,
    loglog_band,
    measure_memory,
    median_band,
    memory_record,
)
from curse_of_memory.experiments._units import Unit, UnitContext, derive_seed

DESCRIPTION = (
    "Beyond the paper: GRU/LSTM memory decays exponentially at |x|<=1, slowly unrestricted"
)

ARCHITECTURES = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
SLOW_LAWS = ("polynomial", "other")
MAJORITY = 0.8
EARLY_STEPS = 10  # the maximiser's trend is read from t >= 10 on
MIN_RANK_CORRELATION = 0.8


@dataclass
class Config:
    """Settings of the gated-sup experiment."""

    architectures: tuple[str, ...] = ("gru", "lstm")
    bounds: tuple[float, ...] = (1.0, 10.0, 100.0, math.inf)
    seeds: int = 10
    input_size: int = 1
    hidden_size: int = 16
    length: int = 1001  # t = 0..1000
    seed: int = 0

    def __post_init__(self) -> None:
        self.architectures = check_names("architectures", self.architectures, tuple(ARCHITECTURES))
        self.bounds = tuple(check_bound("bound", b) for b in self.bounds)
        if sorted(set(self.bounds)) != list(self.bounds):
            raise ValueError(f"bounds must be strictly increasing, got {self.bounds}")
        if 1.0 not in self.bounds or not math.isinf(self.bounds[-1]):
            raise ValueError(
                f"bounds must include 1 and end with inf (the unrestricted sup), got {self.bounds}"
            )
        check_positive_int("seeds", self.seeds)
        check_positive_int("input_size", self.input_size)
        check_positive_int("hidden_size", self.hidden_size)
        if check_positive_int("length", self.length) < 100:
            raise ValueError(
                f"length must be >= 100 (slow tails need a long window), got {self.length}"
            )
        check_nonnegative_int("seed", self.seed)


PRESETS: dict[str, Config] = {
    "quick": Config(seeds=3, length=501),
    "paper": Config(),
}


def random_gated(
    architecture: str, seed: int, input_size: int, hidden_size: int
) -> torch.nn.Module:
    """A randomly initialised float64 ``torch.nn.GRU`` / ``LSTM`` (PyTorch default init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ARCHITECTURES[architecture](input_size, hidden_size, batch_first=True)
    return model.double()


def bounded_memory_unit(
    context: UnitContext,
    architecture: str,
    model_seed: int,
    input_size: int,
    hidden_size: int,
    length: int,
    input_bound: float,
) -> dict:
    """Heaviside memory of one random gated network at one input bound."""
    model = random_gated(architecture, model_seed, input_size, hidden_size)
    memory = measure_memory(model, length, 1.0, "heaviside", input_bound, seed=context.seed)
    return memory_record(memory, fit_law(memory))


def units(config: Config) -> list[Unit]:
    out = []
    for arch in config.architectures:
        for index in range(config.seeds):
            model_key = f"{arch}/seed{index}"
            for bound in config.bounds:
                params = {
                    "architecture": arch,
                    "model_seed": derive_seed(model_key, config.seed),
                    "input_size": config.input_size,
                    "hidden_size": config.hidden_size,
                    "length": config.length,
                    "input_bound": bound,
                }
                key = f"{model_key}/bound={bound_label(bound)}"
                out.append(Unit(key, bounded_memory_unit, params))
    return out


def assemble(config: Config, results: dict[str, dict]) -> dict:
    networks = []
    for arch in config.architectures:
        for index in range(config.seeds):
            per_bound = {
                bound_label(b): results[f"{arch}/seed{index}/bound={bound_label(b)}"]
                for b in config.bounds
            }
            networks.append({"architecture": arch, "seed_index": index, "bounds": per_bound})
    bands = {
        arch: {
            bound_label(b): median_band(
                [
                    n["bounds"][bound_label(b)]["values"]
                    for n in networks
                    if n["architecture"] == arch
                ]
            )
            for b in config.bounds
        }
        for arch in config.architectures
    }
    t = networks[0]["bounds"][bound_label(config.bounds[0])]["t"]
    return {
        "experiment": "gated_sup",
        "bounds": [bound_label(b) for b in config.bounds],
        "t": t,
        "networks": networks,
        "bands": bands,
    }


def maximiser_trend(record: dict) -> dict:
    """Spearman correlation of the maximising input size with t (t >= 10), and its late level."""
    from scipy.stats import spearmanr

    scales = np.asarray(record["maximizer_scale"], dtype=np.float64)
    t = np.asarray(record["t"], dtype=np.float64)
    later = t >= EARLY_STEPS
    correlation = float(spearmanr(t[later], scales[later]).statistic)
    late = float(np.median(scales[-max(1, scales.size // 4) :]))
    grows = bool(correlation >= MIN_RANK_CORRELATION and late > 1.0)
    return {"rank_correlation": correlation, "late_median": late, "grows": grows}


def plot(results: dict):
    """Top: median memory and 10-90% band per bound; bottom: maximising input size vs t."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    archs = list(results["bands"])
    fig, axes = plt.subplots(2, len(archs), figsize=(5.5 * len(archs), 7.5), squeeze=False)
    t = np.asarray(results["t"])
    for col, arch in enumerate(archs):
        ax = axes[0][col]
        for bound in results["bounds"]:
            laws = [
                n["bounds"][bound]["fit"]["law"]
                for n in results["networks"]
                if n["architecture"] == arch
            ]
            common = max(set(laws), key=laws.count)
            loglog_band(
                ax,
                t,
                results["bands"][arch][bound],
                f"|x| <= {bound}: {common} ({laws.count(common)}/{len(laws)})",
            )
        ax.set_title(
            f"{arch.upper()}: Heaviside memory vs input bound (beyond the paper)", fontsize=9
        )
        ax.set_xlabel("t")
        ax.set_ylabel("M(t)")
        ax.legend(fontsize=7)
        ax = axes[1][col]
        for network in (n for n in results["networks"] if n["architecture"] == arch):
            scales = np.asarray(network["bounds"][results["bounds"][-1]]["maximizer_scale"])
            keep = (t > 0) & (scales > 0)
            ax.loglog(t[keep], scales[keep], lw=0.8, alpha=0.7)
        ax.set_xlabel("t")
        ax.set_ylabel("maximising |x|_inf (unrestricted sup)")
    fig.tight_layout()
    return fig


def claims(results: dict) -> list[Claim]:
    networks = results["networks"]
    first, last = results["bounds"][0], results["bounds"][-1]
    bounded = [n["bounds"][first]["fit"]["law"] for n in networks]
    unrestricted = [n["bounds"][last]["fit"]["law"] for n in networks]
    trends = [maximiser_trend(n["bounds"][last]) for n in networks]
    n = len(networks)
    frac_exp = sum(law == "exponential" for law in bounded) / n
    frac_slow = sum(law in SLOW_LAWS for law in unrestricted) / n
    frac_growth = sum(trend["grows"] for trend in trends) / n
    return [
        Claim(
            "gated_sup.bounded_exponential",
            f"[beyond the paper] with inputs |x|_inf <= {first}, random GRU/LSTM memories decay "
            f"exponentially (law 'exponential' for >= {MAJORITY:.0%} of networks)",
            frac_exp >= MAJORITY,
            {"fraction": frac_exp, "laws": bounded},
        ),
        Claim(
            "gated_sup.unrestricted_heavy_tail",
            "[beyond the paper] with the unrestricted sup of Definition 3.1 (any input size) the "
            "same networks decay slowly, not exponentially (law 'polynomial' or 'other' for "
            f">= {MAJORITY:.0%} of networks): saturated gates give an envelope of ever slower "
            "exponentials",
            frac_slow >= MAJORITY,
            {"fraction": frac_slow, "laws": unrestricted},
        ),
        Claim(
            "gated_sup.growing_maximiser",
            "[beyond the paper] the maximising input size of the unrestricted sup grows with t "
            f"(Spearman correlation with t >= {MIN_RANK_CORRELATION:g} for t >= {EARLY_STEPS}) "
            f"and leaves |x| <= 1 (late median > 1), for >= {MAJORITY:.0%} of networks",
            frac_growth >= MAJORITY,
            {"fraction": frac_growth, "trends": trends},
        ),
    ]


def summary(results: dict) -> list[str]:
    lines = []
    for bound in results["bounds"]:
        laws = [n["bounds"][bound]["fit"]["law"] for n in results["networks"]]
        counts = ", ".join(f"{laws.count(law)} {law}" for law in sorted(set(laws)))
        lines.append(f"|x| <= {bound}: {counts}")
    return lines
