"""The vectorisable tanh of the numba kernels against independent references."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from curse_of_memory.kernels._numba_math import fast_tanh, lambert_convergent  # noqa: E402


@numba.njit
def _apply(values, out):
    for i in range(values.shape[0]):
        out[i] = fast_tanh(values[i])


def _fast_tanh(values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    _apply(values, out)
    return out


def test_lambert_convergent_is_the_classical_pade_approximant():
    """Depth 5 of tanh y = y/(1+y^2/(3+y^2/(5+...))) is the [5/4] Pade approximant
    y (945 + 105 y^2 + y^4) / (945 + 420 y^2 + 15 y^4) (worked out by hand from the
    continued fraction)."""
    assert lambert_convergent(5) == ((945.0, 105.0, 1.0), (945.0, 420.0, 15.0))
    assert lambert_convergent(1) == ((1.0,), (1.0,))  # tanh y ~ y
    assert lambert_convergent(2) == ((3.0,), (3.0, 1.0))  # y / (1 + y^2 / 3)
    with pytest.raises(ValueError, match="depth"):
        lambert_convergent(0)


def test_lambert_convergent_approximates_tanh_near_zero():
    """The convergent agrees with tanh to O(y^(4 depth - 1)) at small y (exact rationals)."""
    numerator, denominator = lambert_convergent(6)
    y = Fraction(1, 10)
    s = y * y
    value = y * sum(Fraction(c) * s**k for k, c in enumerate(numerator))
    value /= sum(Fraction(c) * s**k for k, c in enumerate(denominator))
    assert abs(float(value) - math.tanh(0.1)) < 1e-16


@pytest.mark.parametrize(
    ("dtype", "tolerance"), [(np.float32, 4.8e-7), (np.float64, 1.2e-15)]
)  # 4 ulp of float32 (2^-21) and ~5 ulp of float64
def test_fast_tanh_relative_error(dtype, tolerance):
    rng = np.random.default_rng(0)
    grid = np.concatenate(
        [
            np.linspace(-25.0, 25.0, 200_001),
            np.logspace(-30, 1.5, 20_001),
            -np.logspace(-30, 1.5, 20_001),
            rng.normal(scale=4.0, size=100_000),
        ]
    ).astype(dtype)
    got = _fast_tanh(grid).astype(np.float64)
    expected = np.tanh(grid.astype(np.float64))  # libm in float64: independent
    error = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(dtype).tiny)
    assert error.max() <= tolerance, f"max relative error {error.max():.2e}"
    assert _fast_tanh(grid).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_tanh_special_values(dtype):
    values = np.array([np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, np.nan], dtype=dtype)
    got = _fast_tanh(values)
    assert list(got[:2]) == [1.0, -1.0]
    assert got[2] == 0.0 and not np.signbit(got[2])
    assert got[3] == 0.0 and np.signbit(got[3])
    assert list(got[4:6]) == [1.0, -1.0]
    assert np.isnan(got[6])


def test_fast_tanh_is_odd_and_bounded():
    values = np.linspace(0.0, 30.0, 100_001, dtype=np.float32)
    positive, negative = _fast_tanh(values), _fast_tanh(-values)
    assert np.array_equal(positive, -negative)
    assert np.all(np.abs(positive) <= 1.0)
