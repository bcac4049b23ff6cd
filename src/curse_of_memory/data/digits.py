"""scikit-learn's 8x8 handwritten digits, read pixel by pixel (64 steps).

1797 images (UCI optical recognition of handwritten digits, pixel values 0..16). Each
image becomes a sequence of its 64 pixels in row-major order, like sequential MNIST.
Pixels are scaled to [0, 1] and standardised with the training split's mean and
standard deviation. Split (stratified, fixed seed): 70% train, 10% validation, 20% test.
"""

from __future__ import annotations

import numpy as np

from curse_of_memory.data.sequences import SequenceClassificationData, as_split, stratified_holdout

TEST_FRACTION = 0.2
VAL_FRACTION = 0.125  # of the remaining 80%: 10% of all images


def load_digits_sequences(data_dir: str | None = None) -> SequenceClassificationData:
    """The digits dataset as sequences ``(n, 64, 1)``; ``data_dir`` is unused.

    Needs scikit-learn (``pip install 'curse-of-memory[data]'``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "dataset 'digits' needs scikit-learn: pip install 'curse-of-memory[data]'"
        ) from None
    digits = load_digits()
    x = digits.images.reshape(len(digits.images), 64) / 16.0  # (n, 64), row-major pixels
    labels = digits.target.astype(np.int64)
    rest, test = stratified_holdout(labels, TEST_FRACTION, seed=0)
    train_of_rest, val_of_rest = stratified_holdout(labels[rest], VAL_FRACTION, seed=1)
    train, val = rest[train_of_rest], rest[val_of_rest]
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    return SequenceClassificationData(
        name="digits",
        description="scikit-learn 8x8 digits, 64 pixels in row-major order (standardised)",
        n_classes=10,
        train=as_split(x[train], labels[train]),
        val=as_split(x[val], labels[val]),
        test=as_split(x[test], labels[test]),
    )
