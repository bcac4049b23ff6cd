"""Reader for the IDX format of the MNIST files (plain or gzip-compressed).

An IDX file is a header, then the values in row-major order, big-endian::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 d bytes   the d sizes, each a big-endian uint32
    then        prod(sizes) values of the type

A file whose name ends in ``.gz`` is decompressed first. Every problem (not IDX,
unknown type, truncated, trailing bytes, broken gzip) is a one-line ``ValueError``
naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: not a valid gzip file ({err})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file ``path`` (``.gz`` is decompressed).

    Returns
    -------
    numpy array of the header's shape, in native byte order (uint8 for MNIST).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file (it must start with bytes 00 00, a type code and the "
            f"number of dimensions; got {data[:4].hex(' ') or 'an empty file'})"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; valid codes: {valid}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{path}: truncated IDX header ({len(data)} bytes, {header} needed for {ndim} sizes)"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX data: shape {shape} needs {expected} bytes, only {found} follow"
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected} unexpected bytes after the IDX data of shape {shape}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))
