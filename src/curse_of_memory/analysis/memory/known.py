"""A model whose memory function is known: the width-1 ContinuousRNN.

dh/dt = sigma(w h + u x), y = c h, no bias, forward Euler h_{k+1} = h_k + dt sigma(w h_k
+ u x_k), y_k = c h_{k+1}. For a Heaviside input x the discrete response is
(y_k - y_{k-1}) / dt = c sigma(a_k) with a_0 = u x, a_{k+1} = a_k + w dt sigma(a_k),
so M_k = |c| sup_{0 < x <= X} |sigma(a_k(x))| / x: a scalar recurrence that
:func:`brute_force_memory` evaluates for thousands of amplitudes at once, independently
of :func:`memory_function`'s search. In continuous time (tanh), sinh(a(t)) = sinh(u x)
e^{w t}: bounded inputs give memory ~ e^{w t}, unbounded ones ~ |c u| / (|w| t).

The tests and ``benchmarks/memory_sup.py`` check ``memory_function`` against it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from curse_of_memory.models import ContinuousRNN

W, U, C = -0.5, 2.0, 1.5  # the defaults: the case of the docs (docs/instruments.md)


def width_one_rnn(
    activation: str, dt: float, w: float = W, u: float = U, c: float = C
) -> ContinuousRNN:
    """The float64 width-1 ContinuousRNN with eigenvalue w, input weight u, readout c."""
    model = ContinuousRNN(
        1, activation=activation, parametrization="direct", bias=False, dt=dt
    ).double()
    with torch.no_grad():
        model.parametrizations.eigenvalues.original.fill_(w)
        model.input_kernel.weight.fill_(u)
        model.readout.weight.fill_(c)
    return model


def brute_force_memory(
    activation: str,
    bound: float,
    length: int,
    dt: float,
    n_amplitudes: int = 6000,
    w: float = W,
    u: float = U,
    c: float = C,
) -> tuple[np.ndarray, np.ndarray]:
    """M_k over ``n_amplitudes`` log-spaced x in (0, X] (X = inf: up to 1e4), float64.

    Returns the sup ``(length,)`` and the maximising amplitude ``(length,)``; the grid
    spans 8 decades below its top.
    """
    top = 1e4 if math.isinf(bound) else bound
    xs = np.geomspace(top * 1e-8, top, n_amplitudes)
    sigma = np.tanh if activation == "tanh" else (lambda a: np.clip(a, -1.0, 1.0))
    a = u * xs
    best, best_x = np.zeros(length), np.zeros(length)
    for k in range(length):
        ratio = np.abs(c * sigma(a)) / xs
        i = int(np.argmax(ratio))
        best[k], best_x[k] = ratio[i], xs[i]
        a = a + w * dt * sigma(a)
    return best, best_x
