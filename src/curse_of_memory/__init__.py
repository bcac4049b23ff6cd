"""curse-of-memory: memory functions, stable approximation and stably reparameterised RNNs.

Implements Wang, Li & Li, *Inverse Approximation Theory for Nonlinear Recurrent
Neural Networks* (ICLR 2024). Formula references ("paper eq N") follow the arXiv
numbering of the paper.

Main entry points
-----------------
- :class:`LinearFunctional`, :func:`make_dataset`: targets and data.
- :func:`memory_function`, :func:`fit_decay`: how long is a model's memory?
- :class:`ContinuousRNN` (+ :data:`PARAMETRIZATIONS`), :func:`train`: stably
  parameterised RNNs and their training.
- :func:`perturbation_error` (with a loss such as :func:`mse_loss`),
  :func:`stability_verdict`: can a target be learned stably?
- :func:`run_experiment`: reproduce the paper's figures (``curse_of_memory.experiments``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Where the public names live. They are imported on first use (PEP 562), so that
# ``import curse_of_memory`` (and the command line's --help) does not load torch.
_SOURCES = (
    "curse_of_memory.analysis",
    "curse_of_memory.models",
    "curse_of_memory.targets",
    "curse_of_memory.training",
)

if TYPE_CHECKING:  # static tools see the eager imports
    from curse_of_memory.analysis import (
        DecayFit,
        MemoryFunction,
        PerturbationCurve,
        PerturbationLoss,
        SmallErrorRadii,
        StabilityVerdict,
        custom_loss,
        fit_decay,
        impulse_response_loss,
        memory_function,
        mse_loss,
        paper_betas,
        perturbation_error,
        sobolev_loss,
        stability_radius,
        stability_verdict,
        twe_mse_loss,
    )
    from curse_of_memory.models import (
        PARAMETRIZATIONS,
        STABLE_PARAMETRIZATIONS,
        ContinuousGRU,
        ContinuousLSTM,
        ContinuousRNN,
        build_model,
    )
    from curse_of_memory.targets import (
        NAMED_MEMORIES,
        LinearFunctional,
        RandomRNNTeacher,
        RandomTransformerTeacher,
        SequenceDataset,
        make_dataset,
    )
    from curse_of_memory.training import (
        TRAINING_PRESETS,
        TrainResult,
        load_model,
        save_model,
        train,
    )


_SUBPACKAGES = ("analysis", "experiments", "kernels", "models", "plotting", "targets", "training")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for source in _SOURCES:
            module = importlib.import_module(source)
            if hasattr(module, name):
                globals()[name] = value = getattr(module, name)  # later look-ups skip this
                return value
    if name in _SUBPACKAGES:  # ``curse_of_memory.analysis`` without importing it first
        return importlib.import_module(f"curse_of_memory.{name}")
    raise AttributeError(f"module 'curse_of_memory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def run_experiment(*args, **kwargs):
    """Run a registered experiment; see :func:`curse_of_memory.experiments.run_experiment`.

    Imported lazily so that ``import curse_of_memory`` does not load matplotlib.
    """
    from curse_of_memory.experiments import run_experiment as _run

    return _run(*args, **kwargs)


__all__ = [
    "NAMED_MEMORIES",
    "PARAMETRIZATIONS",
    "STABLE_PARAMETRIZATIONS",
    "TRAINING_PRESETS",
    "ContinuousGRU",
    "ContinuousLSTM",
    "ContinuousRNN",
    "DecayFit",
    "LinearFunctional",
    "MemoryFunction",
    "PerturbationCurve",
    "PerturbationLoss",
    "RandomRNNTeacher",
    "RandomTransformerTeacher",
    "SequenceDataset",
    "SmallErrorRadii",
    "StabilityVerdict",
    "TrainResult",
    "build_model",
    "custom_loss",
    "fit_decay",
    "impulse_response_loss",
    "load_model",
    "make_dataset",
    "memory_function",
    "mse_loss",
    "paper_betas",
    "perturbation_error",
    "run_experiment",
    "save_model",
    "sobolev_loss",
    "stability_radius",
    "stability_verdict",
    "train",
    "twe_mse_loss",
    "__version__",
]
