"""Linear functionals approximated by linear RNNs without training (paper Appendix D, C).

A linear RNN with diagonal ``W = diag(lambda)``, ``U = 1`` and readout ``c`` has the memory
``rho_hat(t) = c^T e^{W t} U = sum_k c_k exp(lambda_k t)`` (paper eqs 3 and 5, linear
case). Appendix D fits it by least squares, "a polynomial approximation of rho(-ln s) on
(0, 1]": with eigenvalues ``lambda_k = -k a`` the memory is a polynomial in
``s = e^{-a t}``. The eigenvalue placement and the regression grid are not given; the named
:data:`FIT_READINGS` are the readings we tried. ``"scaled"`` (eigenvalues ``-k/m``, a
polynomial of degree m in ``s = e^{-t/m}``, error = max over t = 1..100) reproduces the
stability picture of the published Figure 1 best (``docs/instruments.md`` compares every
reading with the published values).

The fit becomes a real model: :func:`linear_rnn` returns a
:class:`~curse_of_memory.models.ContinuousRNN` (``activation="linear"``) whose weights
the fit sets, so its perturbation error is measured by the same
:func:`~curse_of_memory.analysis.perturbation_error` as every other model. Its forward
Euler step uses the exact discretisation of each mode, ``1 + dt lambda_d = e^{lambda dt}``,
so the model's impulse response at ``t = k dt`` is exactly the fitted exponential sum, and
``lambda_d < 0`` exactly when ``lambda < 0`` (a perturbation that pushes an eigenvalue
across 0 makes the model unstable for every dt). A perturbed raw weight goes through the
Euler step again: with ``exp``/``softplus`` eigenvalues the continuous model stays stable
for every perturbation, the Euler step only while ``dt |lambda_d| e^beta < 2``.

:class:`RecurrentShift` moves all raw recurrent weights of a model together (``W + beta I``
for direct eigenvalues, the direction of the paper's proof), so that
``perturbation_error`` can estimate E_m(beta) on that direction.
:func:`fit_power_law_quadrature` is an alternative fit of ``(t + 1)^{-p}`` (Gauss-Laguerre
quadrature of its Laplace transform), and :func:`rescaling_example` is Appendix C.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import gamma, roots_genlaguerre
from torch import nn

from curse_of_memory._validation import check_choice, check_positive_float, check_positive_int
from curse_of_memory.models.parametrizations import PARAMETRIZATIONS
from curse_of_memory.models.rnn import ContinuousRNN
from curse_of_memory.targets.linear import LinearFunctional

EXP_BASE = 0.9  # paper eq 120: rho(t) = 0.9^t
POWER_LAW_EXPONENT = 1.1  # paper eq 120: rho(t) = 1 / (t + 1)^1.1

# Read off the published Figure 1 (approximate): E_m(0) for m = 2, 4, 6, 8, 14; where the
# 0.9^t curves meet (beta_0); the crossings of consecutive widths for 1/(t+1)^1.1.
PAPER_WIDTHS = (2, 4, 6, 8, 14)
PAPER_UNPERTURBED_ERRORS = {
    "exp": (0.32, 0.10, 0.034, 0.010, 0.0017),
    "pol": (0.09, 0.022, 0.012, 0.007, 0.003),
}
PAPER_BETA0 = 0.07
PAPER_CROSSINGS = (0.11, 0.055, 0.035, 0.016)


def linear_target(name: str) -> LinearFunctional:
    """The targets of Figures 1 and 4: ``"exp"`` = 0.9^t, ``"pol"`` = 1/(t+1)^1.1 (eq 120)."""
    check_choice("target", name, ("exp", "pol"))
    if name == "exp":
        return LinearFunctional.named("exp", rate=-math.log(EXP_BASE))
    return LinearFunctional.named("pol", power=POWER_LAW_EXPONENT)


@dataclass
class ExponentialSumFit:
    """``rho_hat(t) = sum_k c_k exp(lambda_k t)`` (a diagonal linear RNN with U = 1).

    Attributes
    ----------
    eigenvalues: ``(m,)`` continuous-time eigenvalues lambda_k.
    coefficients: ``(m,)`` readout c.
    meta: fit details (method, condition numbers, ...), JSON-able.
    """

    eigenvalues: np.ndarray
    coefficients: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.coefficients.shape[0])

    def memory(self, t: np.ndarray) -> np.ndarray:
        """``(n,)`` memory rho_hat at times ``t`` of shape ``(n,)``."""
        t = np.asarray(t, dtype=np.float64)
        return np.exp(np.outer(t, self.eigenvalues)) @ self.coefficients


@dataclass(frozen=True)
class FitReading:
    """One reading of Appendix D's least-squares procedure.

    Attributes
    ----------
    eigenvalues: ``width -> (m,)`` fixed eigenvalues lambda_k.
    steps: ``(n,)`` time-step indices k of the regression samples, ``t = k dt``.
    dt: time step of the model (and of the samples).
    norm: error over the samples: ``"sup"``, ``"l1"`` or ``"l2"`` (root of the sum of
        squares, the least-squares residual).
    description: the reading in words.
    """

    eigenvalues: Callable[[int], np.ndarray]
    steps: np.ndarray
    dt: float
    norm: str
    description: str

    @property
    def times(self) -> np.ndarray:
        """``(n,)`` sample times ``k dt``."""
        return self.steps * self.dt


# The polynomial's constant term is a mode decaying this slowly: constant on t <= 4.6
# (e^{-0.0046}) and representable by every eigenvalue parametrization (exp, softplus
# need lambda < 0), so Figures 1 and 4 share one fit.
CONSTANT_MODE = -1e-3


def _polynomial_eigenvalues(width: int) -> np.ndarray:
    """0 (as CONSTANT_MODE), -1, ..., -(m - 1): rho_hat is a polynomial of degree m-1 in s."""
    return np.concatenate([[CONSTANT_MODE], -np.arange(1.0, width)])


def _s_grid_steps(points: int, dt: float) -> np.ndarray:
    """Steps k = round(-ln(j / points) / dt), j = 1..points: s = e^{-t} uniform on (0, 1]."""
    steps = np.rint(-np.log(np.arange(1, points + 1) / points) / dt).astype(np.int64)
    return steps[::-1].copy()


# Readings in time: samples t = 1..100 (paper Appendix D), model step dt = 0.1 so that a
# perturbed raw weight moves the continuous eigenvalue, as in the paper's continuous model
# (at dt = 1 it moves the one-step factor e^{lambda} instead).
_TIME_DT = 0.1
_TIME_STEPS = np.arange(1, 101) * 10

FIT_READINGS: dict[str, FitReading] = {
    "polynomial": FitReading(
        _polynomial_eigenvalues,
        _s_grid_steps(100, 0.01),
        0.01,
        "l2",
        "polynomial of degree m-1 in s = e^{-t} (eigenvalues 0, -1, ..., -(m-1)), regression "
        "on s = j/100 (j = 1..100), error = least-squares residual (l2 over the samples)",
    ),
    "polynomial_sup": FitReading(
        _polynomial_eigenvalues,
        _s_grid_steps(100, 0.01),
        0.01,
        "sup",
        "as 'polynomial', error = max over the samples",
    ),
    "time_grid": FitReading(
        lambda m: math.log(EXP_BASE) * np.arange(1.0, m + 1),
        _TIME_STEPS,
        _TIME_DT,
        "sup",
        "eigenvalues -a k with a = -ln 0.9 (0.9^t is the k = 1 mode), regression on "
        "t = 1..100, error = max over the samples",
    ),
    "scaled": FitReading(
        lambda m: -np.arange(1.0, m + 1) / m,
        _TIME_STEPS,
        _TIME_DT,
        "sup",
        "eigenvalues -k/m (a polynomial of degree m in s = e^{-t/m}, no constant term), "
        "regression on t = 1..100, error = max over the samples",
    ),
}


def fit_exponential_sum(
    target: LinearFunctional, eigenvalues: np.ndarray, times: np.ndarray
) -> ExponentialSumFit:
    """Least-squares coefficients c of ``sum_k c_k exp(lambda_k t)`` against ``target.rho``.

    Parameters
    ----------
    target: a one-input :class:`LinearFunctional`.
    eigenvalues: ``(m,)`` fixed eigenvalues lambda_k (finite).
    times: ``(n,)`` sample times, ``n >= m``.

    The design matrix ``exp(t lambda)`` ``(n, m)`` is column-scaled to unit norm and solved
    by SVD (``numpy.linalg.lstsq``); ``meta`` reports both condition numbers, the largest
    ``|c_k|`` and the residual norms.
    """
    if not isinstance(target, LinearFunctional) or target.input_dim != 1:
        raise TypeError("target must be a LinearFunctional with input_dim=1")
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if eigenvalues.ndim != 1 or eigenvalues.size == 0 or not np.all(np.isfinite(eigenvalues)):
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite numbers")
    if times.ndim != 1 or times.size < eigenvalues.size or not np.all(np.isfinite(times)):
        raise ValueError(f"times must be a 1-D array of at least {eigenvalues.size} finite values")
    rho = target.rho(times)[:, 0]  # (n,)
    design = np.exp(np.outer(times, eigenvalues))  # (n, m)
    scale = np.linalg.norm(design, axis=0)
    scaled = design / scale
    solution, *_ = np.linalg.lstsq(scaled, rho, rcond=None)
    coefficients = solution / scale
    residual = design @ coefficients - rho
    meta = {
        "method": "least_squares",
        "cond_raw": float(np.linalg.cond(design)),
        "cond_scaled": float(np.linalg.cond(scaled)),
        "max_abs_coefficient": float(np.abs(coefficients).max()),
        "residual_l2": float(np.linalg.norm(residual)),
        "residual_sup": float(np.abs(residual).max()),
    }
    return ExponentialSumFit(eigenvalues, coefficients, meta)


def fit_reading(reading: str, target: LinearFunctional, width: int) -> ExponentialSumFit:
    """The fit of ``target`` at width m under a named reading of :data:`FIT_READINGS`."""
    spec = FIT_READINGS[check_choice("reading", reading, FIT_READINGS)]
    width = check_positive_int("width", width)
    fit = fit_exponential_sum(target, spec.eigenvalues(width), spec.times)
    fit.meta["reading"] = reading
    return fit


def discrete_eigenvalues(eigenvalues: np.ndarray, dt: float) -> np.ndarray:
    """Euler eigenvalues ``lambda_d = (e^{lambda dt} - 1) / dt``: ``(1 + dt lambda_d)^k =
    e^{lambda k dt}`` exactly; ``lambda_d < 0`` iff ``lambda < 0``. ``(m,) -> (m,)``."""
    return np.expm1(np.asarray(eigenvalues, dtype=np.float64) * dt) / dt


def linear_rnn(
    fit: ExponentialSumFit,
    dt: float,
    parametrization: str = "direct",
    perturb_input_weights: bool = False,
) -> ContinuousRNN:
    """The fit as a float64 ``ContinuousRNN(activation="linear")`` (diagonal W, no biases).

    Parameters
    ----------
    fit: the exponential sum.
    dt: Euler step; the eigenvalues are discretised exactly (:func:`discrete_eigenvalues`).
    parametrization: eigenvalue map of the raw weights (paper eq 18), e.g. ``"direct"``,
        ``"exp"``, ``"softplus"``; it must represent the (negative) eigenvalues.
    perturb_input_weights: leave U trainable, so that perturbations move it; by default
        U = 1 is frozen and only (W, c) are perturbed, as in Appendix C ("c and w as the
        trainable weights").

    Returns a model whose impulse response (input ``1/dt`` at step 0) is
    ``rho_hat(k dt)`` at step k.
    """
    dt = check_positive_float("dt", dt)
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    if not isinstance(perturb_input_weights, bool):
        raise TypeError(
            f"perturb_input_weights must be True or False, got {perturb_input_weights!r}"
        )
    model = ContinuousRNN(
        fit.width,
        activation="linear",
        parametrization=parametrization,
        structure="diagonal",
        dt=dt,
        bias=False,
        readout_bias=False,
    ).double()
    with torch.no_grad():
        model.eigenvalues = torch.as_tensor(discrete_eigenvalues(fit.eigenvalues, dt))
        model.input_kernel.weight.fill_(1.0)  # U = 1
        model.readout.weight.copy_(torch.as_tensor(fit.coefficients).reshape(1, -1))  # c^T
    model.input_kernel.weight.requires_grad_(perturb_input_weights)
    return model


# How the linear figures perturb the recurrent weights: all eigenvalues moved together (the
# proof of Theorem 3.9), or every raw weight independently at random.
PERTURBATIONS = ("shift", "random")


class RecurrentShift(nn.Module):
    """``model`` with all its raw recurrent weights moved together by one trainable number.

    ``forward`` runs ``model`` with raw eigenvalue weights ``w_i + shift`` (every i; for
    direct eigenvalues ``W + shift I``, for ``exp`` eigenvalues ``lambda e^{shift}``), or, for a
    dense W, ``W + shift I``. The raw recurrent weights themselves are frozen, so
    :func:`~curse_of_memory.analysis.perturbation_error` on this module draws the shift
    (a one-entry tensor: exactly ``+beta`` or ``-beta`` in either norm) and the other
    trainable tensors (the readout c; U when trainable) at random. ``W~ - W = beta I`` is the
    direction of the proof of Theorem 3.9 (paper Appendix A.8) and lies in the ball of
    paper eq 11, so the estimate is a lower bound of E_m(beta), like the independent random
    draws; unlike them it keeps the cancellations of a least-squares fit and isolates the
    effect of moving the eigenvalues.

    Parameters
    ----------
    model: a :class:`ContinuousRNN` (copied; the original is not modified).

    Shapes: ``(batch, T, d_in) -> (batch, T, d_out)``, as ``model``.
    """

    def __init__(self, model: ContinuousRNN) -> None:
        super().__init__()
        if not isinstance(model, ContinuousRNN):
            raise TypeError(f"model must be a ContinuousRNN, got {type(model).__name__}")
        self.model = copy.deepcopy(model)
        raw = self.model.raw_recurrent_weight
        raw.requires_grad_(False)
        dense = self.model.structure == "dense"
        self._raw_name = "recurrent_weight" if dense else "parametrizations.eigenvalues.original"
        direction = torch.eye(raw.shape[0], dtype=raw.dtype) if dense else torch.ones_like(raw)
        self.register_buffer("direction", direction.detach().clone())
        self.shift = nn.Parameter(torch.zeros(1, dtype=raw.dtype, device=raw.device))

    @property
    def hidden_size(self) -> int:
        return self.model.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = self.model.raw_recurrent_weight + self.shift * self.direction
        return torch.func.functional_call(self.model, {self._raw_name: moved}, (x,), strict=False)


def fit_power_law_quadrature(width: int, exponent: float = POWER_LAW_EXPONENT) -> ExponentialSumFit:
    """Exponential sum for rho(t) = (t+1)^{-p} by Gauss-Laguerre quadrature of its Laplace form.

    rho(t) = (1/Gamma(p)) int_0^inf u^{p-1} e^{-u} e^{-u t} du, so with the generalised
    Gauss-Laguerre nodes x_k and weights g_k (alpha = p - 1): lambda_k = -x_k and
    c_k = g_k / Gamma(p) > 0. rho_hat(0) = 1 exactly and the slowest eigenvalue -min(x_k)
    tends to 0 as m grows.
    """
    width = check_positive_int("width", width)
    exponent = check_positive_float("exponent", exponent)
    nodes, weights = roots_genlaguerre(width, exponent - 1.0)
    meta = {"method": "laguerre", "exponent": exponent}
    return ExponentialSumFit(-nodes, weights / gamma(exponent), meta)


@dataclass
class RescalingExample:
    """Appendix C: vanilla vs rescaled linear RNN for rho = sum_k e^{-t/k} / k^2.

    Attributes
    ----------
    width: m.
    vanilla_raw, rescaled_raw: ``(m,)`` raw weights w representing the truncation
        sum_{k<=m} e^{-t/k}/k^2 (vanilla: lambda_k = w_k = -1/k; rescaled: lambda_k = w_k/k,
        w_k = -1).
    coefficients: ``(m,)`` c_k = 1/k^2 (both models).
    vanilla_sign_radius: largest |delta w| keeping every vanilla eigenvalue negative (1/m).
    rescaled_sign_radius: the same for the rescaled model (1, for every m).
    truncation_error: sup over t >= 0 of |rho - truncation| = sum_{k>m} 1/k^2.
    """

    width: int
    vanilla_raw: np.ndarray
    rescaled_raw: np.ndarray
    coefficients: np.ndarray
    vanilla_sign_radius: float
    rescaled_sign_radius: float
    truncation_error: float

    def vanilla_memory(self, t: np.ndarray) -> np.ndarray:
        """Vanilla rho_hat(t) = sum_k c_k e^{w_k t}: shape ``(n,)``."""
        return ExponentialSumFit(self.vanilla_raw, self.coefficients).memory(t)

    def rescaled_memory(self, t: np.ndarray) -> np.ndarray:
        """Rescaled rho_hat(t) = sum_k c_k e^{w_k t / k}: shape ``(n,)``."""
        k = np.arange(1, self.width + 1, dtype=np.float64)
        return ExponentialSumFit(self.rescaled_raw / k, self.coefficients).memory(t)


def rescaling_target(t: np.ndarray, terms: int = 100_000) -> np.ndarray:
    """rho(t) = sum_{k=1..terms} e^{-t/k} / k^2 (Appendix C), truncated at ``terms``: ``(n,)``."""
    k = np.arange(1, check_positive_int("terms", terms) + 1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-np.outer(t, 1.0 / k)) @ (1.0 / k**2)


def rescaling_example(width: int) -> RescalingExample:
    """Build the Appendix C example at width m; see :class:`RescalingExample`."""
    width = check_positive_int("width", width)
    k = np.arange(1, width + 1, dtype=np.float64)
    tail = float(np.pi**2 / 6 - np.sum(1.0 / k**2))  # sup_t of the tail is at t = 0
    return RescalingExample(
        width=width,
        vanilla_raw=-1.0 / k,
        rescaled_raw=-np.ones(width),
        coefficients=1.0 / k**2,
        vanilla_sign_radius=1.0 / width,
        rescaled_sign_radius=1.0,
        truncation_error=tail,
    )
