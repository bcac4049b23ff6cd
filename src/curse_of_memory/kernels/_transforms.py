"""Which torch function transform a tensor is under, and folding a vmapped dimension.

The compiled kernels have a ``vmap`` rule (the vmapped dimension becomes their model
axis) but no rule for ``jvp``, forward-mode AD or ``torch.func.grad``; data-dependent
checks (finiteness, the scan's stability test) cannot run on transformed tensors.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.autograd.forward_ad as fwAD

Transform = Literal["none", "vmap", "other"]


def functorch_wrapper(tensor: torch.Tensor) -> Literal["none", "vmap", "other"]:
    """Kind of the functorch wrapper around ``tensor``: none, a vmap batch, or another.

    torch has no public test for this; the two private predicates used here are the
    ones functorch itself uses. ``tests/test_kernels.py`` checks them under ``vmap``,
    ``grad`` and ``jvp``, so a torch release that changes them fails there loudly.
    """
    functorch = torch._C._functorch
    if not functorch.is_functorch_wrapped_tensor(tensor):
        return "none"
    return "vmap" if functorch.is_batchedtensor(tensor) else "other"


def transform_of(*tensors: torch.Tensor) -> Transform:
    """``"none"`` for plain tensors, ``"vmap"`` if transformed tensors are only vmap
    batches, ``"other"`` if any is under ``jvp``/``grad`` or carries a forward-mode
    tangent (``torch.autograd.forward_ad``, used by the memory function)."""
    kinds = set()
    for tensor in tensors:
        if fwAD.unpack_dual(tensor).tangent is not None:
            return "other"
        kinds.add(functorch_wrapper(tensor))
    if "other" in kinds:
        return "other"
    return "vmap" if "vmap" in kinds else "none"


def fold_vmapped_dim(
    tensor: torch.Tensor, dim: int | None, size: int, models: int | None = None
) -> torch.Tensor:
    """``vmap`` physical tensor -> one leading model axis, ``(size * K, ...)``.

    The vmapped dimension ``dim`` moves to the front (an unbatched tensor is expanded
    to ``size``) and is merged with the model axis K that follows it. With ``models``,
    a model axis of 1 is first expanded to ``models`` (parameters shared by K layers).
    """
    tensor = tensor.movedim(dim, 0) if dim is not None else tensor.expand(size, *tensor.shape)
    if models is not None and tensor.shape[1] != models:
        tensor = tensor.expand(size, models, *tensor.shape[2:])
    return tensor.reshape(size * tensor.shape[1], *tensor.shape[2:])
