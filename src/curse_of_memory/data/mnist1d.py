"""MNIST-1D (Greydanus & Kobak): 1-D digit templates, randomly transformed, 40 steps.

The ``mnist1d`` package generates the data locally from its ten templates (padding,
shear, translation, correlated and i.i.d. noise; the package's default arguments and
seed 42), so nothing is downloaded. Default size: 5000 samples, of which the package
puts 4000 in train and 1000 in test; 10% of the training samples (stratified) are held
out for validation. The package standardises the whole dataset to mean 0, std 1.
"""

from __future__ import annotations

import numpy as np

from curse_of_memory._validation import check_positive_int
from curse_of_memory.data.sequences import SequenceClassificationData, as_split, stratified_holdout

VAL_FRACTION = 0.1
DEFAULT_SAMPLES = 5000


def load_mnist1d_sequences(
    data_dir: str | None = None, samples: int = DEFAULT_SAMPLES
) -> SequenceClassificationData:
    """MNIST-1D as sequences ``(n, 40, 1)``; ``data_dir`` is unused.

    Parameters
    ----------
    samples: total number of generated samples (train 80%, test 20%; the standard
        dataset has 5000).

    Needs the ``mnist1d`` package (``pip install 'curse-of-memory[data]'``).
    """
    samples = check_positive_int("samples", samples)
    if samples < 20:
        raise ValueError(f"samples must be >= 20 (two per class and split), got {samples}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "dataset 'mnist1d' needs the mnist1d package: pip install 'curse-of-memory[data]'"
        ) from None
    args = get_dataset_args()
    args.num_samples = samples
    # make_dataset seeds numpy's legacy global generator: put its state back afterwards
    state = np.random.get_state()  # noqa: NPY002
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    x, labels = generated["x"], generated["y"].astype(np.int64)
    train, val = stratified_holdout(labels, VAL_FRACTION, seed=0)
    return SequenceClassificationData(
        name="mnist1d",
        description=f"MNIST-1D generated locally ({samples} samples, 40 steps, seed 42)",
        n_classes=10,
        train=as_split(x[train], labels[train]),
        val=as_split(x[val], labels[val]),
        test=as_split(generated["x_test"], generated["y_test"]),
    )
