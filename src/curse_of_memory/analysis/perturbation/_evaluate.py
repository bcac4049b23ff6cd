"""Evaluate a batch of perturbed copies of one model in a single vmapped pass.

The trainable raw weights of the model (for ``torch.nn.utils.parametrize`` modules,
the ``.original`` tensors) are stacked along a leading model axis and the model is
run through ``torch.vmap(torch.func.functional_call)``: K perturbed models cost one
batched forward (a batch of models is just another batch axis).

If vmap cannot run the model (an op without a batching rule, ``.item()``, an in-place
write of batched values into an unbatched tensor, ...), the evaluator warns once and
falls back to a Python loop of ``functional_call`` over the models; the results are
the same, only slower.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.func import functional_call

from curse_of_memory._validation import primary_output
from curse_of_memory.models._plain_recurrent import plain_recurrent_forwards

LossOfOutput = Callable[[torch.Tensor], torch.Tensor]


class ModelBatchEvaluator:
    """Per-model losses (and their gradients) for stacked parameter dicts.

    Parameters
    ----------
    model: the module; only the parameters named in the stacked dicts are replaced.
    inputs: model input shared by every perturbed copy, e.g. ``(batch, T, d_in)``.
    loss_of_output: maps one model's output to a scalar loss.
    chunk_size: at most this many models per vmapped pass (``None``: all at once).
    on_chunk: called after every evaluated chunk (progress bars).
    vectorize: try the vmapped pass first (``False``: always the loop, no warning).
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        loss_of_output: LossOfOutput,
        chunk_size: int | None = None,
        on_chunk: Callable[[], None] | None = None,
        vectorize: bool = True,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.loss_of_output = loss_of_output
        self.chunk_size = chunk_size
        self.on_chunk = on_chunk or (lambda: None)
        self.use_vmap = vectorize

    def _single_loss(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        out = functional_call(self.model, params, (self.inputs,))
        return self.loss_of_output(primary_output(out))

    def _chunks(self, stacked: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        n = next(iter(stacked.values())).shape[0]
        size = n if self.chunk_size is None else self.chunk_size
        for start in range(0, n, size):
            yield {name: value[start : start + size] for name, value in stacked.items()}

    def _losses_vmap(self, chunk: dict[str, torch.Tensor]) -> torch.Tensor:
        with plain_recurrent_forwards(self.model):
            return torch.vmap(self._single_loss)(chunk)

    def _losses_loop(self, chunk: dict[str, torch.Tensor]) -> torch.Tensor:
        n = next(iter(chunk.values())).shape[0]
        return torch.stack(
            [self._single_loss({name: value[k] for name, value in chunk.items()}) for k in range(n)]
        )

    def _chunk_losses(self, chunk: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.use_vmap:
            try:
                return self._losses_vmap(chunk)
            except Exception as error:  # vmap can fail in any way; use the loop
                self.use_vmap = False
                warnings.warn(
                    f"perturbation_error: vmap could not evaluate the model ({error!s:.200}); "
                    "falling back to a slower loop over the perturbed models",
                    RuntimeWarning,
                    stacklevel=4,
                )
        return self._losses_loop(chunk)

    def losses(self, stacked: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of every model: ``stacked[name]`` is ``(n, *shape)``; returns ``(n,)``."""
        out = []
        with torch.no_grad():
            for chunk in self._chunks(stacked):
                out.append(self._chunk_losses(chunk))
                self.on_chunk()
        return torch.cat(out)

    def losses_and_grads(
        self, stacked: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Losses ``(n,)`` and their gradients w.r.t. every stacked tensor ``(n, *shape)``.

        Each model's loss depends only on its own slice, so the gradient of the sum of
        the losses is, slice by slice, the gradient of each model's own loss.
        """
        losses, grads = [], {name: [] for name in stacked}
        for chunk in self._chunks(stacked):
            leaves = {name: value.detach().requires_grad_(True) for name, value in chunk.items()}
            with torch.enable_grad():
                chunk_losses = self._chunk_losses(leaves)
                chunk_grads = torch.autograd.grad(
                    chunk_losses.sum(), list(leaves.values()), allow_unused=True
                )
            losses.append(chunk_losses.detach())
            for (name, leaf), grad in zip(leaves.items(), chunk_grads, strict=True):
                grads[name].append(torch.zeros_like(leaf) if grad is None else grad)
            self.on_chunk()
        return torch.cat(losses), {name: torch.cat(g) for name, g in grads.items()}
