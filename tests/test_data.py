"""Real sequence data: the IDX reader, sequential MNIST from IDX files, digits, MNIST-1D."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from _idx_files import idx_bytes, write_mnist

from curse_of_memory.data import load_sequence_dataset, read_idx
from curse_of_memory.data.mnist import MNIST_MEAN, MNIST_STD


@pytest.mark.parametrize(
    ("code", "dtype"), [(0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"),
                        (0x0E, ">f8")],
)  # fmt: skip
def test_read_idx_every_type_plain_and_gzip(tmp_path, code, dtype):
    values = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == ">u1":
        values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(values, code, dtype))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(values, code, dtype)))
    for name in ("a.idx", "a.idx.gz"):
        out = read_idx(tmp_path / name)
        assert out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, values.astype(values.dtype.newbyteorder("=")))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x02" + struct.pack(">I", 3), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x01", "truncated IDX data"),
        (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"\x00\x01", "1 unexpected bytes"),
    ],
)
def test_malformed_idx_gives_one_line_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_broken_gzip_is_named(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a valid gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files_pixel_by_pixel(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_sequence_dataset("mnist", data_dir=str(tmp_path))
    assert data.length == 12 and data.n_classes == 10
    sizes = data.sizes()
    assert sizes["test"] == 10 and sizes["train"] + sizes["val"] == 24 and sizes["val"] >= 1
    # test split: row-major pixels, p / 255 normalised by MNIST's mean and std
    images = arrays["t10k-images-idx3-ubyte"].astype(np.float64)
    expected = (images.reshape(10, 12) / 255.0 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(data.test[0][:, :, 0].numpy(), expected, rtol=1e-6, atol=1e-6)
    assert data.test[0][3, 2 * 3 + 1, 0] == pytest.approx(
        (images[3, 2, 1] / 255 - MNIST_MEAN) / MNIST_STD, rel=1e-6
    )
    np.testing.assert_array_equal(data.test[1].numpy(), arrays["t10k-labels-idx1-ubyte"])
    # train + val together are exactly the training file, every image once
    train_labels = np.sort(np.concatenate([data.train[1].numpy(), data.val[1].numpy()]))
    np.testing.assert_array_equal(train_labels, np.sort(arrays["train-labels-idx1-ubyte"]))


def test_mnist_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="needs data_dir"):
        load_sequence_dataset("mnist")
    arrays = write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_sequence_dataset("mnist", data_dir=str(tmp_path))
    labels = arrays["t10k-labels-idx1-ubyte"][:7]  # 7 labels for 10 images
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(ValueError, match="7 labels for the 10 images"):
        load_sequence_dataset("mnist", data_dir=str(tmp_path))
    bad = np.full(10, 11, dtype=np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(bad))
    with pytest.raises(ValueError, match="digits 0..9"):
        load_sequence_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="digits, mnist, mnist1d"):
        load_sequence_dataset("cifar")


def test_digits_are_the_sklearn_images_read_row_by_row():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    data = load_sequence_dataset("digits")
    assert data.length == 64 and sum(data.sizes().values()) == len(digits.target) == 1797
    train = data.train[0][:, :, 0].numpy().astype(np.float64)
    assert abs(train.mean()) < 1e-6 and train.std() == pytest.approx(1.0, rel=1e-5)
    # the standardisation is affine, so each sequence z-scored equals one raw image z-scored
    raw = digits.images.reshape(1797, 64)
    raw_z = (raw - raw.mean(1, keepdims=True)) / raw.std(1, keepdims=True)
    for index in (0, 5, 17):
        sequence = data.test[0][index, :, 0].numpy().astype(np.float64)
        z = (sequence - sequence.mean()) / sequence.std()
        found = np.flatnonzero(np.abs(raw_z - z).max(axis=1) < 1e-4)
        assert found.size >= 1 and np.all(digits.target[found] == int(data.test[1][index]))


def test_train_subset_and_its_errors():
    pytest.importorskip("sklearn")
    data = load_sequence_dataset("digits", train_samples=100)
    assert data.sizes()["train"] == 100
    with pytest.raises(ValueError, match="exceeds"):
        load_sequence_dataset("digits", train_samples=10**6)


def test_mnist1d_generated_locally_without_touching_numpy_global_state():
    pytest.importorskip("mnist1d")
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    data = load_sequence_dataset("mnist1d", samples=200)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    sizes = data.sizes()  # the package splits 80 / 20; 10% of train (per class) is validation
    assert data.length == 40 and sizes["train"] + sizes["val"] == 160 and sizes["test"] == 40
    assert 14 <= sizes["val"] <= 20
    again = load_sequence_dataset("mnist1d", samples=200)
    assert np.array_equal(data.train[0].numpy(), again.train[0].numpy())  # fixed seed 42
