"""Which weights a perturbation moves, and in which norm (paper eq 11).

* The perturbed tensors are the trainable raw weights, ``requires_grad=True`` (for
  ``torch.nn.utils.parametrize`` modules the ``.original`` tensors), so a stable
  reparameterization stays stable under any perturbation.
* The raw eigenvalue weights of a :class:`~curse_of_memory.models.ContinuousRNN` with a
  diagonal or symmetric W are the diagonal of W in its eigenbasis; under ``norm="paper"``
  they are perturbed in the spectral norm of ``diag(delta)``, which is ``max |delta_i|``.
* ``relu="official"``: the official code perturbs its ``relu`` models after ``w <- relu(w)``,
  i.e. it perturbs the eigenvalues ``lambda = -relu(w)`` themselves (they can cross 0).
  :func:`project_relu_eigenvalues` gives a copy of the model in that form.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils import parametrize

from curse_of_memory.models.parametrizations import DirectEigenvalues, ReluEigenvalues
from curse_of_memory.models.rnn import ContinuousRNN

RELU_SEMANTICS = ("raw", "official")
_EIGENVALUES = "eigenvalues"


def trainable_weights(model: nn.Module) -> dict:
    """``{name: tensor}`` of the parameters with ``requires_grad=True``, in module order."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True) to perturb")
    return params


def diagonal_weight_names(model: nn.Module) -> set[str]:
    """Names of raw eigenvalue tensors (diagonals of W) of every ContinuousRNN in ``model``."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, ContinuousRNN) and module.structure != "dense":
            base = f"{prefix}." if prefix else ""
            names.add(f"{base}parametrizations.{_EIGENVALUES}.original")
    return names


def _relu_modules(model: nn.Module) -> list[nn.Module]:
    found = []
    for module in model.modules():
        maps = getattr(getattr(module, "parametrizations", None), _EIGENVALUES, None)
        if maps is not None and any(isinstance(m, ReluEigenvalues) for m in maps):
            found.append(module)
    return found


def project_relu_eigenvalues(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` whose ``relu`` eigenvalue maps are applied once (official semantics).

    Each ``lambda = -relu(w)`` becomes the direct map ``lambda = w'`` with ``w' = -relu(w)``:
    the same function, but a perturbation of ``w'`` moves the eigenvalue itself. Returns
    ``(model, number of converted maps)``; the model is returned unchanged when there are none.
    """
    if not _relu_modules(model):
        return model, 0
    model = copy.deepcopy(model)
    modules = _relu_modules(model)
    for module in modules:
        trainable = module.parametrizations[_EIGENVALUES].original.requires_grad
        parametrize.remove_parametrizations(module, _EIGENVALUES, leave_parametrized=True)
        parametrize.register_parametrization(module, _EIGENVALUES, DirectEigenvalues())
        module.parametrizations[_EIGENVALUES].original.requires_grad_(trainable)
        if isinstance(module, ContinuousRNN):
            module.parametrization = "direct"
    return model, len(modules)
