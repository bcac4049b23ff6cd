"""Sequential MNIST from the IDX files a user has on disk (784 steps, pixel by pixel).

``data_dir`` must hold the four MNIST files, each plain or gzip-compressed (``.gz``),
under their usual names (``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

Each image becomes the sequence of its pixels in row-major order, scaled to [0, 1] and
normalised with MNIST's mean 0.1307 and standard deviation 0.3081 (as in the paper's
sequential-MNIST set-up). 1/12 of the training images (5000 of 60000, stratified) are
held out for validation; the t10k files are the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curse_of_memory.data.idx import read_idx
from curse_of_memory.data.sequences import SequenceClassificationData, as_split, stratified_holdout

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
VAL_FRACTION = 1 / 12
N_CLASSES = 10
_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def _find(data_dir: Path, stem: str) -> Path:
    """The file ``stem`` in ``data_dir`` (also ``.gz`` and the ``-idx`` -> ``.idx`` variant)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(
        f"MNIST file {stem} (or {stem}.gz) not found in {str(data_dir)!r}; dataset 'mnist' "
        "needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte there"
    )


def find_mnist_files(data_dir: str | Path) -> dict[str, Path]:
    """Paths of the four MNIST files in ``data_dir`` (raises naming the first missing one)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data_dir {str(data_dir)!r} is not a folder")
    return {stem: _find(data_dir, stem) for stem in _FILES.values()}


def _read_pair(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, rows * cols)`` in [0, 1] and labels ``(n,)`` of one split, checked."""
    image_path = _find(data_dir, _FILES[(split, "images")])
    label_path = _find(data_dir, _FILES[(split, "labels")])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{image_path}: expected uint8 images of shape (n, rows, cols), got "
            f"{images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"{label_path}: expected uint8 labels of shape (n,), got {labels.dtype} of shape "
            f"{labels.shape}"
        )
    if labels.size != images.shape[0]:
        raise ValueError(
            f"{label_path}: {labels.size} labels for the {images.shape[0]} images of {image_path}"
        )
    if labels.size and int(labels.max()) >= N_CLASSES:
        raise ValueError(f"{label_path}: labels must be digits 0..9, found {int(labels.max())}")
    return images.reshape(images.shape[0], -1) / 255.0, labels.astype(np.int64)


def load_mnist_sequences(data_dir: str | Path | None = None) -> SequenceClassificationData:
    """MNIST as sequences ``(n, rows * cols, 1)`` (784 steps for 28 x 28 images).

    Parameters
    ----------
    data_dir: folder with the four IDX files (see the module docstring).
    """
    if data_dir is None:
        raise ValueError(
            "dataset 'mnist' needs data_dir: the folder with the MNIST IDX files "
            "(train-images-idx3-ubyte, ...; plain or .gz)"
        )
    data_dir = Path(data_dir)
    find_mnist_files(data_dir)
    x_train, y_train = _read_pair(data_dir, "train")
    x_test, y_test = _read_pair(data_dir, "test")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"MNIST train images have {x_train.shape[1]} pixels but test images "
            f"{x_test.shape[1]} in {str(data_dir)!r}"
        )
    train, val = stratified_holdout(y_train, VAL_FRACTION, seed=0)

    def normalise(x: np.ndarray) -> np.ndarray:
        return (x - MNIST_MEAN) / MNIST_STD

    return SequenceClassificationData(
        name="mnist",
        description=f"MNIST from {data_dir}, {x_train.shape[1]} pixels in row-major order",
        n_classes=N_CLASSES,
        train=as_split(normalise(x_train[train]), y_train[train]),
        val=as_split(normalise(x_train[val]), y_train[val]),
        test=as_split(normalise(x_test), y_test),
    )
