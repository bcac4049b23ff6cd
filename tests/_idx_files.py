"""Small MNIST IDX files written by hand from the format's definition (for the tests)."""

from __future__ import annotations

import gzip
import struct

import numpy as np


def idx_bytes(array: np.ndarray, code: int = 0x08, big_endian_dtype: str = "u1") -> bytes:
    """An IDX file written by hand from the format's definition (not by the package)."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += b"".join(struct.pack(">I", size) for size in array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


def write_mnist(folder, n_train=24, n_test=10, rows=4, cols=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays
