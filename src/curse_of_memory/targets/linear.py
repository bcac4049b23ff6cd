"""Linear functional targets y = H(x) given by a memory kernel rho (paper eq 5).

Discretised with the rectangle rule on the grid t_j = j dt (DESIGN "Conventions"):

    y_k = dt * sum_{j=0..k} rho(j dt) x_{k-j}          (paper eq 5)

and computed as an FFT causal convolution in O(T log T).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from curse_of_memory._validation import (
    check_positive_float,
    check_positive_int,
    check_sequence_tensor,
)
from curse_of_memory.targets.named import build_named_memory

RhoFn = Callable[[np.ndarray], np.ndarray]


class LinearFunctional:
    """A causal, time-homogeneous linear functional with memory kernel ``rho``.

    Parameters
    ----------
    rho:
        Maps an array of times ``t`` of shape ``(n,)`` to the kernel values, of
        shape ``(n, input_dim)`` or ``(n,)`` (the latter is broadcast to every
        input channel).
    input_dim:
        Number of input channels ``d``. The output has one channel.
    name:
        Optional label used in plots and reports.
    """

    def __init__(self, rho: RhoFn, input_dim: int = 1, name: str | None = None) -> None:
        if not callable(rho):
            raise TypeError(
                f"rho must be callable (times -> kernel values), got {type(rho).__name__}"
            )
        self._rho_fn = rho
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.name = name or getattr(rho, "__name__", "rho")

    @classmethod
    def named(cls, name: str, input_dim: int = 1, **params: float) -> LinearFunctional:
        """A functional with a named kernel from :data:`NAMED_MEMORIES`.

        ============  =================================  =======================
        name          rho(t)                             parameters (defaults)
        ============  =================================  =======================
        ``exp``       ``e^{-rate t}``                    rate=1
        ``pol``       ``1/(1 + scale t)^power``          power=1.1, scale=1
        ``shift``     ``1 if start < t < stop else 0``   start=9, stop=11
        ``twoparts``  ``e^{-t} + e^{-(t - center)^2}``   center=9
        ``airy``      ``Ai(t - shift)``                  shift=6
        ``sin``       ``sin(frequency t)``               frequency=1
        ============  =================================  =======================

        The paper's exponential memory ``0.9^t`` (paper eq 120) is ``rate=-ln 0.9``;
        its polynomial memories are ``pol`` with power 1.1 (paper eq 120) or 1.5
        (paper Appendix D, nonlinear experiments); the official code's ``pol`` is
        ``power=1.1, scale=0.1``.
        The same scalar kernel is applied to every one of the ``input_dim`` channels.

        Raises ``ValueError`` for an unknown name or parameter (listing the valid
        ones) and for invalid parameter values.
        """
        input_dim = check_positive_int("input_dim", input_dim)
        rho, label = build_named_memory(name, **params)
        return cls(rho, input_dim=input_dim, name=label)

    def __repr__(self) -> str:
        return f"LinearFunctional(name={self.name!r}, input_dim={self.input_dim})"

    def rho(self, t: np.ndarray | float) -> np.ndarray:
        """Exact memory kernel at times ``t``.

        Returns an array of shape ``(*t.shape, input_dim)`` in float64.
        """
        t = np.asarray(t, dtype=np.float64)
        values = np.asarray(self._rho_fn(t.reshape(-1)), dtype=np.float64)
        n = t.size
        if values.shape == (n,):
            values = np.repeat(values[:, None], self.input_dim, axis=1)
        elif values.shape != (n, self.input_dim):
            raise ValueError(
                f"rho returned shape {values.shape} for {n} times; expected ({n},) or "
                f"({n}, {self.input_dim})"
            )
        return values.reshape(*t.shape, self.input_dim)

    def kernel(self, length: int, dt: float) -> np.ndarray:
        """Discrete kernel ``dt * rho(j dt)`` for ``j = 0..length-1``: shape ``(length, d)``."""
        length = check_positive_int("length", length)
        dt = check_positive_float("dt", dt)
        return dt * self.rho(np.arange(length) * dt)

    def __call__(self, x: torch.Tensor, dt: float) -> torch.Tensor:
        """Outputs ``y_k = dt sum_j rho(j dt) x_{k-j}`` (paper eq 5) by FFT convolution.

        Parameters
        ----------
        x: ``(batch, T, input_dim)`` tensor (any float dtype, any device).
        dt: time step, > 0.

        Returns
        -------
        ``(batch, T, 1)`` tensor of the same dtype and device as ``x``.
        """
        dt = check_positive_float("dt", dt)
        x = check_sequence_tensor("x", x, self.input_dim)
        length = x.shape[1]
        k = torch.as_tensor(self.kernel(length, dt), device=x.device)  # (T, d) float64
        return causal_convolution(x, k).sum(-1, keepdim=True)

    def outputs_direct(self, x: torch.Tensor, dt: float) -> torch.Tensor:
        """The same outputs by the direct O(T^2) sum, in float64 (a reference for tests)."""
        dt = check_positive_float("dt", dt)
        x = check_sequence_tensor("x", x, self.input_dim).double()
        length = x.shape[1]
        k = torch.as_tensor(self.kernel(length, dt), dtype=torch.float64, device=x.device)
        y = torch.zeros(x.shape[0], length, 1, dtype=torch.float64, device=x.device)
        for n in range(length):
            for j in range(n + 1):  # y_n = sum_j k_j . x_{n-j}
                y[:, n, 0] += (k[j] * x[:, n - j]).sum(-1)
        return y


def causal_convolution(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel causal convolution ``out_k = sum_{j<=k} kernel_j * x_{k-j}`` by FFT.

    Parameters
    ----------
    x: ``(batch, T, d)``; kernel: ``(T, d)``.

    Returns ``(batch, T, d)`` in ``x``'s dtype. Zero-padding to length 2T makes the
    circular FFT product a linear (causal) convolution; the FFT runs in float64.
    """
    length = x.shape[1]
    n_fft = 2 * length
    xf = torch.fft.rfft(x.to(torch.float64), n=n_fft, dim=1)  # (B, n_fft//2+1, d)
    kf = torch.fft.rfft(kernel.to(device=x.device, dtype=torch.float64), n=n_fft, dim=0)
    out = torch.fft.irfft(xf * kf.unsqueeze(0), n=n_fft, dim=1)[:, :length]
    return out.to(x.dtype)
