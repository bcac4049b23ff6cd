"""Sequence classification data: every sample is a sequence ``(T, 1)`` with a class label.

The container :class:`SequenceClassificationData` holds three splits (train,
validation, test), each a pair ``(x, labels)`` with ``x`` of shape ``(n, T, 1)``
(float32) and ``labels`` of shape ``(n,)`` (int64, values ``0..n_classes-1``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from curse_of_memory._validation import check_positive_int

Split = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class SequenceClassificationData:
    """A labelled sequence dataset, split into train / validation / test.

    Attributes
    ----------
    name: registry name (``digits``, ``mnist1d``, ``mnist``).
    description: where the data come from and how they were made into sequences.
    n_classes: number of classes.
    train, val, test: ``(x, labels)``: ``x`` ``(n, T, 1)`` float32, ``labels`` ``(n,)`` int64.
    """

    name: str
    description: str
    n_classes: int
    train: Split
    val: Split
    test: Split

    @property
    def length(self) -> int:
        """Sequence length T."""
        return int(self.train[0].shape[1])

    def sizes(self) -> dict[str, int]:
        """Number of samples per split."""
        return {name: int(getattr(self, name)[1].numel()) for name in ("train", "val", "test")}

    def with_train_subset(self, n: int, seed: int = 0) -> SequenceClassificationData:
        """A copy whose training split is ``n`` samples drawn without replacement (seeded)."""
        n = check_positive_int("train_samples", n)
        total = self.sizes()["train"]
        if n > total:
            raise ValueError(
                f"train_samples={n} exceeds the {total} training samples of {self.name}"
            )
        keep = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]
        x, labels = self.train
        return replace(self, train=(x[keep], labels[keep]))


def as_split(x: np.ndarray, labels: np.ndarray) -> Split:
    """``(x (n, T) or (n, T, 1), labels (n,))`` as float32 / int64 tensors with a feature axis."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(labels, np.int64))


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)``: about ``fraction`` of every class is held out (seeded).

    At least one sample is held out and at least one kept.
    """
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[: int(round(fraction * members.size))])
    held_out = np.sort(np.concatenate(held))
    if held_out.size == 0:
        held_out = np.array([int(rng.integers(labels.size))])
    if held_out.size == labels.size:
        held_out = held_out[1:]
    kept = np.setdiff1d(np.arange(labels.size), held_out)
    return kept, held_out
