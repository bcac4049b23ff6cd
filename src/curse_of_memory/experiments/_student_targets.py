"""Targets of the student sweeps: JSON-able descriptions, the functionals, their data.

A target is described by a plain dict (it travels in unit parameters):
``{"kind": "memory", "name": NAME, "params": {...}}`` (a linear functional with a named
memory), ``{"kind": "rnn_teacher", ...}`` or ``{"kind": "transformer_teacher", ...}``
(random teachers, entering as :class:`AdjustedTeacher`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import torch

from curse_of_memory._validation import check_choice, check_positive_float
from curse_of_memory.targets import (
    LinearFunctional,
    RandomRNNTeacher,
    RandomTransformerTeacher,
    make_dataset,
)

TARGET_KINDS = ("memory", "rnn_teacher", "transformer_teacher")


def check_target(spec: Mapping[str, Any]) -> dict:
    """Validate a JSON-able target description; returns it as a plain dict.

    ``{"kind": "memory", "name": NAME, "params": {...}}``: the linear functional with
    the named memory (``NAMED_MEMORIES``). ``{"kind": "rnn_teacher", ...}`` and
    ``{"kind": "transformer_teacher", ...}``: the keyword arguments of
    :class:`RandomRNNTeacher` / :class:`RandomTransformerTeacher` (an RNN teacher's
    ``dt`` is the protocol's).
    """
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise TypeError(f"target must be a dict with a 'kind' key, got {spec!r}")
    check_choice("target kind", spec["kind"], TARGET_KINDS)
    return json.loads(json.dumps(dict(spec)))


class AdjustedTeacher(torch.nn.Module):
    """``(H_t(x) - H_t(0)) / scale``: a teacher without its input-independent part, at unit size.

    The paper takes H_t(0) = 0 without loss of generality and otherwise studies
    ``H_t(x) - H_t(0)`` (paper Def 2.1): a random teacher's zero-input output (the
    transient driven by its biases, or a transformer's positional signal) is not what
    its memory function measures. ``scale`` (ours) is the standard deviation of
    ``H(x) - H(0)`` on the protocol's inputs: with inputs dt N(0, 1), dt = 0.1, a random
    teacher responds with ~1e-4..1e-2, below the weight jitter of Adam at lr 0.005, so
    unscaled targets measure the optimiser rather than the approximation. Dividing by a
    constant changes neither the decay law of the memory nor relative errors.
    """

    def __init__(self, teacher: torch.nn.Module, scale: float = 1.0) -> None:
        super().__init__()
        self.teacher = teacher
        self.scale = check_positive_float("scale", scale)
        self.input_dim = teacher.input_dim
        self.name = f"({getattr(teacher, 'name', type(teacher).__name__)} - zero-input output)"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, T, d) -> (batch, T, 1)``."""
        return (self.teacher(x) - self.teacher(torch.zeros_like(x[:1]))) / self.scale


# Probe inputs that fix a teacher's scale: this many sequences dt N(0, 1), seed 0.
_SCALE_PROBES = 256


def build_target(spec: Mapping[str, Any], dt: float, length: int) -> Any:
    """The target functional described by ``spec`` (see :func:`check_target`).

    Teachers come as :class:`AdjustedTeacher`, scaled on ``_SCALE_PROBES`` input
    sequences ``dt N(0, 1)`` of ``length`` steps.
    """
    spec = check_target(spec)
    options = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "memory":
        return LinearFunctional.named(options["name"], **options.get("params", {}))
    if spec["kind"] == "rnn_teacher":
        teacher = RandomRNNTeacher(dt=dt, **options)
    else:
        teacher = RandomTransformerTeacher(**options)
    generator = torch.Generator().manual_seed(0)
    probe = dt * torch.randn(_SCALE_PROBES, length, teacher.input_dim, generator=generator)
    with torch.no_grad():
        response = AdjustedTeacher(teacher)(probe.to(teacher.dtype))
    return AdjustedTeacher(teacher, float(response.std()))


def target_label(spec: Mapping[str, Any]) -> str:
    """Short text naming a target, for titles."""
    if spec["kind"] == "memory":
        params = spec.get("params", {})
        if spec["name"] == "pol":
            power, scale = params.get("power", 1.1), params.get("scale", 1.0)
            inner = "t+1" if scale == 1.0 else f"1+{scale:g}t"
            return f"rho(t) = 1/({inner})^{power:g}"
        return f"rho = {spec['name']}({', '.join(f'{k}={v:g}' for k, v in params.items())})"
    if spec["kind"] == "rnn_teacher":
        leak = f", leak {spec['leak']:g}" if spec.get("leak") else ""
        return (
            f"random tanh RNN teacher (m={spec.get('hidden_size', 256)}{leak}, seed {spec['seed']})"
        )
    return f"random causal transformer teacher (seed {spec.get('seed', 0)})"


@functools.lru_cache(maxsize=2)
def _cached_dataset(target_json: str, length: int, dt: float, sizes: tuple, data_seed: int):
    n = sum(sizes)
    dataset = make_dataset(
        build_target(json.loads(target_json), dt, length),
        n=n,
        length=length,
        dt=dt,
        seed=data_seed,
        split=tuple(size / n for size in sizes),
    )
    got = tuple(dataset.sizes().values())
    if got != sizes:  # largest-remainder rounding gives the exact sizes; checked anyway
        raise RuntimeError(f"dataset split sizes {got} differ from the requested {sizes}")
    return dataset


def student_dataset(target: Mapping[str, Any], protocol: Any):
    """The float64 train/val/test data of ``target`` under ``protocol`` (inputs dt N(0, 1)).

    ``protocol``: a :class:`~._students.StudentProtocol` (length, dt, split sizes, seed).
    The same for every unit of a run (seeded by ``protocol.data_seed``); the last two
    datasets are kept in memory, so the units of a sweep generate it once per process.
    """
    sizes = (protocol.n_train, protocol.n_val, protocol.n_test)
    return _cached_dataset(
        json.dumps(check_target(target), sort_keys=True),
        protocol.length,
        protocol.dt,
        sizes,
        protocol.data_seed,
    )
