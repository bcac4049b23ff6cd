"""Real sequence classification data: digits, MNIST-1D and sequential MNIST.

- :func:`load_sequence_dataset` ``(name, data_dir=None, train_samples=None)`` ->
  :class:`SequenceClassificationData` (train / validation / test splits of
  ``(x (n, T, 1), labels (n,))``), for ``name`` in :data:`SEQUENCE_DATASETS`:

  ==========  =====  ==========================================================
  name        T      source
  ==========  =====  ==========================================================
  digits      64     scikit-learn's 8x8 digits, pixel by pixel (``[data]``)
  mnist1d     40     MNIST-1D, generated locally by ``mnist1d`` (``[data]``)
  mnist       784    MNIST IDX files in ``data_dir`` (plain or ``.gz``)
  ==========  =====  ==========================================================

- :func:`read_idx`: the IDX reader behind ``mnist``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from curse_of_memory._validation import check_choice
from curse_of_memory.data.digits import load_digits_sequences
from curse_of_memory.data.idx import read_idx
from curse_of_memory.data.mnist import load_mnist_sequences
from curse_of_memory.data.mnist1d import load_mnist1d_sequences
from curse_of_memory.data.sequences import SequenceClassificationData

SEQUENCE_DATASETS: dict[str, Callable[..., SequenceClassificationData]] = {
    "digits": load_digits_sequences,
    "mnist1d": load_mnist1d_sequences,
    "mnist": load_mnist_sequences,
}


def load_sequence_dataset(
    name: str,
    data_dir: str | None = None,
    train_samples: int | None = None,
    **options: Any,
) -> SequenceClassificationData:
    """Load dataset ``name`` (one of :data:`SEQUENCE_DATASETS`).

    Parameters
    ----------
    name: ``digits``, ``mnist1d`` or ``mnist``.
    data_dir: folder of the MNIST IDX files (``mnist`` only; ignored otherwise).
    train_samples: keep only this many training samples (a seeded random subset);
        ``None`` keeps all. Validation and test splits are never reduced.
    options: keyword arguments of the dataset's loader, e.g. ``samples=70000`` for
        ``mnist1d`` (:func:`~curse_of_memory.data.mnist1d.load_mnist1d_sequences`).
    """
    check_choice("dataset", name, SEQUENCE_DATASETS)
    data = SEQUENCE_DATASETS[name](data_dir, **options)
    return data if train_samples is None else data.with_train_subset(train_samples)


__all__ = [
    "SEQUENCE_DATASETS",
    "SequenceClassificationData",
    "load_sequence_dataset",
    "read_idx",
]
