"""Student sweeps: train RNN students of growing width on one target, perturb, judge.

A *student sweep* is the protocol behind the paper's nonlinear figures (paper Appendix D,
"Nonlinear functionals approximated by nonlinear RNNs"): for a target (a linear
functional with a named memory, a random teacher RNN, a random causal transformer) and
for each width m, a :class:`~curse_of_memory.models.ContinuousRNN` is trained to the
protocol, then measured:

* its perturbation error E_m(beta) on held-out data (paper eq 11),
* the eigenvalues of its recurrent matrix W (the mechanism of paper Appendix A.4:
  approximating slow memory pushes max Re lambda(W) to 0-),
* its memory function over bounded Heaviside inputs (paper eq 7) with a decay-law fit.

Each (target, width, parametrization, activation, seed) is one unit
(:func:`train_student`): it checkpoints its training into ``context.checkpoint_dir`` and
resumes mid-training. :func:`~._sweeps.assemble_sweep` gathers the units of one sweep into a panel
(curves by width, per-unit numbers, the stability verdict over the widths).

The instruments are called through one small function each (:func:`perturbation_curve_of`,
:func:`judge_stability`, :func:`memory_of`, :func:`decay_law_of`), so that a change of
their API is a change of one line here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.analysis import (
    MemoryFunction,
    PerturbationCurve,
    PerturbationLoss,
    fit_decay,
    memory_function,
    mse_loss,
    paper_betas,
    perturbation_error,
    stability_radius,
    stability_verdict,
    twe_mse_loss,
)
from curse_of_memory.experiments._student_targets import build_target, student_dataset
from curse_of_memory.experiments._units import UnitContext
from curse_of_memory.models import ContinuousRNN
from curse_of_memory.models.rnn import STRUCTURES
from curse_of_memory.training import TRAINING_PRESETS, train

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# The memory function's supremum runs over bounded Heaviside inputs 0 < |x| <= 1
# (paper eq 7: "bounded Heaviside input"; unit size, like the paper's experiments).
INPUT_BOUND = 1.0

# At most this many bytes of perturbed-model outputs are held at once (chunked vmap).
_PERTURBATION_CHUNK_BYTES = 1e8


@dataclass
class StudentProtocol:
    """How every student of a sweep is trained and measured (flat, overridable fields).

    Defaults: the paper's protocol (paper Appendix D): Adam, lr 0.005, batch 128, MSE,
    1000 epochs, stop at validation loss 1e-8, 12,800 training and 12,800 test
    sequences, perturbation radii 0 and 1e-11 * 2^k (k = 0..35), 3 draws per radius
    (maximum taken). Our choices where the paper is silent are marked.

    Attributes
    ----------
    length: time steps per sequence. The paper trains "over [0.1, ..., 3.2]" and
        evaluates "over the same horizon [0.1, ..., 10.0]"; with dt = 0.1 we use the
        longer horizon (100 steps) for both; ``length=32`` selects the shorter one.
    dt: time step of the data and of the students (0.1 in the paper; 1.0 official).
    n_train, n_test: training and held-out test sequences (12,800 each in the paper).
    n_val: validation sequences for the stopping rule (not given in the paper; ours).
    epochs: training epochs (1000).
    training: training preset, ``"paper"`` or ``"official"`` (see ``TRAINING_PRESETS``);
        its loss is also the distance used in E_m(beta).
    keep_best: evaluate the weights of the epoch with the lowest validation loss (ours;
        the paper is silent): Adam at a fixed lr 0.005 has loss spikes, so the last
        epoch can be far worse than the best one.
    train_dtype: ``"float32"`` (ours: faster on CPU) or ``"float64"`` (official code).
        The perturbation error and the memory function are always computed in float64,
        since the smallest radii (1e-11) vanish in float32 rounding.
    structure: W = diag(lambda) (``"diagonal"``, the official ``diagonalrnn``),
        ``"symmetric"`` (Q diag(lambda) Q^T) or ``"dense"`` (direct only).
    init_decay_range: initial |lambda| are log-uniform in this range (ours: from 0.1,
        so that a slowest mode near 0 after training comes from training, not from
        the initialisation).
    betas: perturbation radii, ascending from 0.
    samples: random draws per radius; the maximum is taken (paper: 3).
    norm: ``"paper"`` (2-norm ball per tensor, paper eq 11) or ``"inf"`` (official).
    memory_length: time steps of the students' memory functions (beyond the training
        horizon, to see the decay law).
    seeds: independently initialised students per (sweep, width); per width the one
        with the lowest validation loss is used for the verdict.
    data_seed: seed of the inputs and of the train/val/test split (shared by all units).
    seed: base seed of the units' derived seeds (initialisation, shuffling, draws).
    checkpoint_every: epochs between training checkpoints.
    """

    length: int = 100
    dt: float = 0.1
    n_train: int = 12_800
    n_val: int = 1280
    n_test: int = 12_800
    epochs: int = 1000
    training: str = "paper"
    keep_best: bool = True
    train_dtype: str = "float32"
    structure: str = "diagonal"
    init_decay_range: tuple[float, float] = (0.1, 1.0)
    betas: tuple[float, ...] = tuple(float(b) for b in paper_betas("nonlinear"))
    samples: int = 3
    norm: str = "paper"
    memory_length: int = 400
    seeds: int = 1
    data_seed: int = 0
    seed: int = 0
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        for name in ("length", "n_train", "n_val", "n_test", "epochs", "samples", "seeds"):
            check_positive_int(name, getattr(self, name))
        if self.length < 2 or self.memory_length < 2:
            raise ValueError(
                f"length and memory_length must be >= 2, got {self.length}, {self.memory_length}"
            )
        check_positive_int("memory_length", self.memory_length)
        check_positive_int("checkpoint_every", self.checkpoint_every)
        check_positive_float("dt", self.dt)
        check_choice("training", self.training, TRAINING_PRESETS)
        if not isinstance(self.keep_best, bool):
            raise TypeError(f"keep_best must be True or False, got {self.keep_best!r}")
        check_choice("train_dtype", self.train_dtype, DTYPES)
        check_choice("structure", self.structure, STRUCTURES)
        check_choice("norm", self.norm, ("paper", "inf"))
        check_nonnegative_int("data_seed", self.data_seed)
        check_nonnegative_int("seed", self.seed)
        low, high = (check_positive_float("init_decay_range", r) for r in self.init_decay_range)
        if low > high:
            raise ValueError(
                f"init_decay_range must be (low, high) with low <= high, got {low, high}"
            )
        self.init_decay_range = (low, high)
        self.betas = tuple(float(b) for b in self.betas)
        betas = np.asarray(self.betas)
        if betas.size < 2 or betas[0] != 0 or np.any(np.diff(betas) <= 0):
            raise ValueError("betas must start at 0 and be strictly ascending (>= 2 values)")
        if not np.isfinite(betas).all():
            raise ValueError("betas must be finite")


def protocol_params(config: StudentProtocol) -> dict:
    """The protocol fields of ``config`` (a figure config) as JSON-able unit parameters."""
    names = [f.name for f in fields(StudentProtocol)]
    return json.loads(json.dumps({name: getattr(config, name) for name in names}))


def check_widths(widths: Sequence[int], minimum: int = 3) -> tuple[int, ...]:
    """At least ``minimum`` distinct positive integer widths in strictly ascending order."""
    widths = tuple(widths)
    if len(widths) < minimum or any(
        isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1 for m in widths
    ):
        raise ValueError(f"widths must be at least {minimum} positive integers, got {widths}")
    if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
        raise ValueError(f"widths must be strictly ascending, got {widths}")
    return tuple(int(m) for m in widths)


def new_student(
    width: int, parametrization: str, activation: str, protocol: StudentProtocol, seed: int
) -> ContinuousRNN:
    """A freshly initialised student (seeded; the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ContinuousRNN(
            width,
            activation=activation,
            parametrization=parametrization,
            structure=protocol.structure,
            dt=protocol.dt,
            init_decay_range=protocol.init_decay_range,
        )
    return model.to(DTYPES[protocol.train_dtype])


# ------------------------------------------------------------------------- instruments
def test_loss_of(
    inputs: torch.Tensor, targets: torch.Tensor, protocol: StudentProtocol
) -> PerturbationLoss:
    """The distance of E_m(beta): the protocol's training loss (MSE in the paper, the
    time-weighted MSE with p = 2 in the official code) on held-out data."""
    if TRAINING_PRESETS[protocol.training]["loss"] == "mse":
        return mse_loss(inputs, targets)
    return twe_mse_loss(inputs, targets, p=2.0)


def zero_prediction_error(loss: PerturbationLoss) -> float:
    """The loss of predicting 0 everywhere (a model that approximates nothing)."""
    targets = loss.targets.double()
    return float(loss.distance(torch.zeros_like(targets), targets))


def perturbation_curve_of(
    model: torch.nn.Module,
    loss: PerturbationLoss,
    protocol: StudentProtocol,
    seed: int,
    progress: bool = False,
) -> PerturbationCurve:
    """E_m(beta) of ``model`` (paper eq 11) under ``loss``, computed in float64.

    The running maximum over draws and radii is reported.
    """
    per_model_bytes = 8 * loss.targets.numel()
    chunk = max(1, int(_PERTURBATION_CHUNK_BYTES // per_model_bytes))
    return perturbation_error(
        model,
        loss,
        protocol.betas,
        samples=protocol.samples,
        seed=seed,
        norm=protocol.norm,
        chunk_size=chunk,
        progress=progress,
        dtype=torch.float64,
    )


# The per-width small-error radius (a diagnostic beside the verdict) is read at this
# multiple of the largest E_m(0) of the sweep.
RADIUS_LEVEL = 10.0


def judge_stability(curves: Mapping[int, PerturbationCurve], ceiling: float) -> dict:
    """Stability verdict (paper Definition 3.5) over widths -> curves, as plain data.

    ``ceiling``: errors above it count as a blow-up (the error of predicting zero).
    Returns a dict with ``stable`` (bool), ``beta0``, ``limit_betas``/``limit_errors``
    (the estimated limit curve E(beta); ``inf`` where it is infinite), ``reason`` (words),
    ``radii`` (per-width small-error radius at ``RADIUS_LEVEL`` x max E_m(0), a
    diagnostic) and ``details`` (the verdict's full report).
    """
    curves = dict(curves)
    verdict = stability_verdict(curves, ceiling=ceiling).to_dict()
    level = RADIUS_LEVEL * max(float(c.errors[0]) for c in curves.values())
    radii = stability_radius(curves, tolerance=level) if level > 0 else None
    return {
        "stable": verdict["stable"],
        "beta0": verdict["beta0"],
        "limit_betas": verdict["betas"],
        "limit_errors": [math.inf if e is None else e for e in verdict["limit_errors"]],
        "reason": verdict["reason"],
        "radii": None if radii is None else radii.to_dict()["radii"],
        "radius_level": level,
        "details": verdict,
    }


def memory_of(model: Any, protocol: StudentProtocol) -> MemoryFunction:
    """Memory function over bounded Heaviside inputs, 0 < |x| <= 1 (paper eq 7)."""
    return memory_function(
        model, length=protocol.memory_length, dt=protocol.dt, input_bound=INPUT_BOUND
    )


def decay_law_of(memory: MemoryFunction) -> dict:
    """Decay-law fit of a memory function (paper Definition 3.2) as plain data.

    A memory that is 0 at every t (a model that ignores its input, e.g. a ReLU RNN whose
    units are all switched off) has no law to fit: ``"undetermined"``, with the reason.
    """
    if not np.any(memory.values > 0):
        reason = "the memory is 0 at every t (the model does not respond to the input)"
        return {"law": "undetermined", "short": "zero memory", "reason": reason}
    fit = fit_decay(memory)
    return {**fit.to_dict(), "short": fit.short()}


def memory_record(memory: MemoryFunction) -> dict:
    """The parts of a memory function a figure needs (t, values, input bound)."""
    return {
        "t": memory.t.tolist(),
        "values": memory.values.tolist(),
        "kind": memory.kind,
        "input_bound": memory.input_bound,
        "converged": memory.converged,
    }


# ------------------------------------------------------------------------------- units
def output_variance(loss: PerturbationLoss) -> float:
    """The loss of predicting the per-time-step mean of the targets (input-independent).

    For the MSE this is the variance over sequences, averaged over time and channels:
    the part of the output that depends on the input. A relative error
    E_m(0) / output_variance near 1 means the student learned nothing but the mean.
    """
    targets = loss.targets.double()
    mean = targets.mean(dim=0, keepdim=True).expand_as(targets)
    return float(loss.distance(mean, targets))


def _last(values: list[float]) -> float:
    return values[-1] if values else math.inf


def _max_real(eigenvalues: torch.Tensor) -> float:
    return float(eigenvalues.real.max())


def train_student(
    context: UnitContext,
    target: dict,
    width: int,
    parametrization: str,
    activation: str,
    protocol: dict,
) -> dict:
    """Unit: train one student to the protocol, then measure it (see the module docstring).

    Returns a JSON-able dict: the settings, the training history and final losses, the
    perturbation curve (``curve``), the eigenvalues of W (initial and trained max Re
    lambda), the memory function and its decay fit, and the output variance of the
    test targets (for relative errors).
    """
    spec = StudentProtocol(**protocol)
    dataset = student_dataset(target, spec)
    model = new_student(width, parametrization, activation, spec, context.seed)
    initial_max_re = _max_real(model.recurrent_eigenvalues())

    checkpoint = None
    if context.checkpoint_dir is not None:
        checkpoint = Path(context.checkpoint_dir) / "train.pt"
    history = train(
        model,
        (dataset.train, dataset.val),
        preset=spec.training,
        epochs=spec.epochs,
        keep_best=spec.keep_best,
        seed=context.seed,
        checkpoint_path=checkpoint,
        checkpoint_every=spec.checkpoint_every,
        resume=checkpoint is not None and checkpoint.exists(),
        progress=context.progress,
    )

    evaluated = copy.deepcopy(model).to(torch.float64)
    x_test, y_test = dataset.test
    loss = test_loss_of(x_test, y_test, spec)
    curve = perturbation_curve_of(evaluated, loss, spec, context.seed, context.progress)
    eigenvalues = evaluated.recurrent_eigenvalues()
    memory = memory_of(evaluated, spec)
    return {
        "target": target,
        "width": width,
        "parametrization": parametrization,
        "activation": activation,
        "seed": context.seed,
        "training": {
            "train_losses": history.train_losses,
            "val_losses": history.val_losses,
            "epochs_run": history.epochs_run,
            "best_epoch": history.best_epoch,
            "stopped_early": history.stopped_early,
            "diverged": history.diverged,
            "message": history.message,
            "seconds": history.seconds,
        },
        "val_loss": history.best_val_loss if spec.keep_best else _last(history.val_losses),
        "test_loss": float(curve.errors[0]),
        "output_variance": output_variance(loss),
        "zero_error": zero_prediction_error(loss),
        "curve": curve.to_dict(),
        "eigenvalues": {
            "real": eigenvalues.real.tolist(),
            "imag": eigenvalues.imag.tolist(),
        },
        "max_re_eigenvalue": _max_real(eigenvalues),
        "initial_max_re_eigenvalue": initial_max_re,
        "memory": memory_record(memory),
        "decay": decay_law_of(memory),
    }


def teacher_memory(context: UnitContext, target: dict, protocol: dict) -> dict:
    """Unit: the memory function of a target (bounded Heaviside inputs) and its decay law."""
    spec = StudentProtocol(**protocol)
    memory = memory_of(build_target(target, spec.dt, spec.length), spec)
    return {"target": target, "memory": memory_record(memory), "decay": decay_law_of(memory)}


# ------------------------------------------------------------------------------ presets
# The quick presets: the same protocol scaled down for a 2-core CPU (all five nonlinear
# figures together in well under 15 minutes), still long enough to show each effect.
QUICK_PROTOCOL = {"n_train": 2560, "n_val": 256, "n_test": 1280, "epochs": 150}

# The official code's settings (paper vs official differences): T = 100 steps of dt = 1,
# 128,000 / 12,800 / 12,800 sequences, AdamW lr 0.01 with plateau schedule, gradient
# clipping, time-weighted MSE and the stability penalty, float64, perturbation radii
# 0 and 1e-3 * 2^(k/2) with the entry-wise max-norm, 3 draws. Not reproduced: its early
# stop at half the previous width's validation loss (units here are independent).
OFFICIAL_PROTOCOL = {
    "length": 100,
    "dt": 1.0,
    "n_train": 128_000,
    "n_val": 12_800,
    "n_test": 12_800,
    "training": "official",
    "train_dtype": "float64",
    "betas": tuple(float(b) for b in paper_betas("official")),
    "norm": "inf",
    "samples": 3,
}
