"""Linear functionals approximated by linear RNNs without training (SPEC 7.1, Appendix D, C).

For d = 1 and a diagonal recurrent matrix W = diag(lambda_1..lambda_m) the linear RNN's
memory is an exponential sum (SPEC eq 5 and the linear case of eq 3):

    rho_hat(t) = c^T e^{W t} U = sum_k c_k U_k exp(lambda_k t),     lambda_k = f(w_k),

where ``w`` are the raw (trainable) eigenvalue weights and ``f`` is the eigenvalue
parametrization: ``direct`` (lambda = w), ``exp`` (lambda = -e^w) or ``softplus``
(lambda = -log(1 + e^w)), SPEC eq 18.

Two fits, neither uses gradients:

* :func:`fit_exponential_sum` -- the SPEC 7.1 reconstruction [R]: eigenvalues fixed at
  lambda_k = -a k, U = 1, so rho_hat is a polynomial in s = e^{-a t} without constant
  term; c solves least squares on the grid t = 1..100. With a = -ln 0.9 the target 0.9^t
  is the single basis function s^1, exactly representable for every m. The design
  matrix is Vandermonde-like (cond grows roughly 10x per extra column); we scale its
  columns to unit norm and solve by SVD (``numpy.linalg.lstsq``), reporting both
  condition numbers in ``meta``.
* :func:`fit_power_law_quadrature` -- for rho(t) = (t+1)^{-p}, which is completely
  monotone: rho(t) = (1/Gamma(p)) int_0^inf u^{p-1} e^{-u} e^{-u t} du. Generalised
  Gauss-Laguerre quadrature (weight u^{p-1} e^{-u}) gives an exponential sum with
  positive coefficients (sum c = rho(0) = 1) whose slowest eigenvalue tends to 0 as m
  grows -- the regime of SPEC 4 (A.4) where a direct parametrization loses stability
  and a stable reparametrization keeps it (Fig 4).

:func:`perturbation_curve` perturbs the raw parameters (c, w, U) of a fitted sum with
random noise of size beta (SPEC eq 11; official per-tensor inf-norm convention of SPEC
7.4 by default) for all betas x samples at once, vectorised in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gamma, roots_genlaguerre

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.analysis.curves import PerturbationCurve

# SPEC 7.1: evaluation grid t = 1..100, beta list 0 and 5e-4 * 2^k (k = 0..20), 10 samples.
PAPER_GRID: np.ndarray = np.arange(1.0, 101.0)
PAPER_BETAS: np.ndarray = np.concatenate([[0.0], 5.0e-4 * 2.0 ** np.arange(21)])
PAPER_SAMPLES = 10
EXP_BASE = 0.9  # SPEC eq 120: rho(t) = 0.9^t
POWER_LAW_EXPONENT = 1.1  # SPEC eq 120: rho(t) = 1 / (t + 1)^1.1
DEFAULT_DECAY_RATE = -float(np.log(EXP_BASE))  # a = -ln 0.9: 0.9^t = s^1 exactly

# Exponents lambda t are clipped here so that errors of exploding (unstable) perturbed
# models stay finite floats (e^600 ~ 4e260, still far beyond any meaningful error).
_MAX_EXPONENT = 600.0


def exp_memory(t: np.ndarray) -> np.ndarray:
    """Exponential memory rho(t) = 0.9^t (SPEC eq 120)."""
    return EXP_BASE ** np.asarray(t, dtype=np.float64)


def pol_memory(t: np.ndarray, exponent: float = POWER_LAW_EXPONENT) -> np.ndarray:
    """Polynomial memory rho(t) = 1 / (t + 1)^p, p = 1.1 by default (SPEC eq 120)."""
    return (np.asarray(t, dtype=np.float64) + 1.0) ** (-exponent)


LINEAR_TARGETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": exp_memory,
    "pol": pol_memory,
}


def _softplus(w: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, w)


def _inverse_softplus(y: np.ndarray) -> np.ndarray:
    # log(e^y - 1), stable for large y
    return y + np.log(-np.expm1(-y))


# name -> (f: raw weight -> eigenvalue, f^{-1}: eigenvalue -> raw weight)   (SPEC eq 18)
EIGEN_PARAMETRIZATIONS: dict[str, tuple[Callable, Callable]] = {
    "direct": (lambda w: w, lambda lam: lam),
    "exp": (lambda w: -np.exp(np.minimum(w, _MAX_EXPONENT)), lambda lam: np.log(-lam)),
    "softplus": (lambda w: -_softplus(w), lambda lam: _inverse_softplus(-lam)),
}


@dataclass
class ExponentialSum:
    """A diagonal linear RNN with d = 1: rho_hat(t) = sum_k c_k U_k exp(f(w_k) t).

    Attributes
    ----------
    coefficients: ``(m,)`` readout c.
    raw_weights: ``(m,)`` raw eigenvalue weights w (eigenvalues are ``f(w)``).
    input_weights: ``(m,)`` input kernel U (d = 1).
    parametrization: name in :data:`EIGEN_PARAMETRIZATIONS`.
    meta: fit details (method, condition numbers, ...).
    """

    coefficients: np.ndarray
    raw_weights: np.ndarray
    input_weights: np.ndarray
    parametrization: str = "direct"
    meta: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.coefficients.shape[0])

    @property
    def eigenvalues(self) -> np.ndarray:
        """``(m,)`` eigenvalues lambda_k = f(w_k)."""
        return EIGEN_PARAMETRIZATIONS[self.parametrization][0](self.raw_weights)

    def memory(self, t: np.ndarray) -> np.ndarray:
        """``(n,)`` model memory rho_hat(t) = c^T e^{W t} U at times ``t`` of shape ``(n,)``."""
        return _memory(
            self.coefficients, self.eigenvalues, self.input_weights, np.asarray(t, float)
        )

    def reparametrized(self, parametrization: str) -> ExponentialSum:
        """The same function with eigenvalues expressed through another parametrization."""
        check_choice("parametrization", parametrization, EIGEN_PARAMETRIZATIONS)
        lam = self.eigenvalues
        if parametrization != "direct" and np.any(lam >= 0):
            raise ValueError(f"{parametrization} parametrization needs negative eigenvalues")
        raw = EIGEN_PARAMETRIZATIONS[parametrization][1](lam)
        return ExponentialSum(
            self.coefficients.copy(),
            raw,
            self.input_weights.copy(),
            parametrization,
            dict(self.meta),
        )


def _memory(c: np.ndarray, lam: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exponential sums for stacked parameters.

    c, lam, u: ``(..., m)``; t: ``(n,)``. Returns ``(..., n)``.
    """
    exponent = np.minimum(lam[..., None, :] * t[:, None], _MAX_EXPONENT)  # (..., n, m)
    return np.einsum("...nm,...m->...n", np.exp(exponent), c * u)


def _target_values(target: str | Callable, grid: np.ndarray) -> np.ndarray:
    if isinstance(target, str):
        target = LINEAR_TARGETS[check_choice("target", target, LINEAR_TARGETS)]
    if not callable(target):
        raise TypeError(f"target must be a name or a callable t -> rho(t), got {target!r}")
    values = np.asarray(target(grid), dtype=np.float64)
    if values.shape != grid.shape or not np.all(np.isfinite(values)):
        raise ValueError(f"target must return {grid.shape} finite values, got {values.shape}")
    return values


def _check_grid(grid: Sequence[float] | np.ndarray | None) -> np.ndarray:
    grid = PAPER_GRID if grid is None else np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError("grid must be a non-empty 1-D array of finite times")
    return grid


def fit_exponential_sum(
    target: str | Callable[[np.ndarray], np.ndarray],
    width: int,
    *,
    decay_rate: float = DEFAULT_DECAY_RATE,
    grid: Sequence[float] | np.ndarray | None = None,
    parametrization: str = "direct",
) -> ExponentialSum:
    """Least-squares exponential-sum fit with eigenvalues -a, -2a, ..., -m a (SPEC 7.1 [R]).

    Parameters
    ----------
    target: ``"exp"`` (0.9^t), ``"pol"`` (1/(t+1)^1.1) or a callable ``(n,) -> (n,)``.
    width: m, number of exponentials (hidden size).
    decay_rate: a > 0; the basis is s^k with s = e^{-a t}, k = 1..m.
    grid: fitting times, default t = 1..100.
    parametrization: how the eigenvalues -a k are stored as raw weights (SPEC eq 18).

    Returns
    -------
    ExponentialSum with U = 1 and ``meta`` holding ``cond_raw`` (condition number of the
    design matrix), ``cond_scaled`` (after unit-norm column scaling, the one the solver
    sees) and ``fit_sup_error`` on the grid.
    """
    width = check_positive_int("width", width)
    decay_rate = check_positive_float("decay_rate", decay_rate)
    check_choice("parametrization", parametrization, EIGEN_PARAMETRIZATIONS)
    grid = _check_grid(grid)
    if width > grid.size:
        raise ValueError(f"width ({width}) must not exceed the number of grid points ({grid.size})")
    rho = _target_values(target, grid)

    eigenvalues = -decay_rate * np.arange(1, width + 1, dtype=np.float64)
    design = np.exp(np.outer(grid, eigenvalues))  # (n, m): columns s^k
    scale = np.linalg.norm(design, axis=0)
    scaled = design / scale
    solution, *_ = np.linalg.lstsq(scaled, rho, rcond=None)
    coefficients = solution / scale
    meta = {
        "method": "least_squares",
        "decay_rate": decay_rate,
        "cond_raw": float(np.linalg.cond(design)),
        "cond_scaled": float(np.linalg.cond(scaled)),
        "fit_sup_error": float(np.max(np.abs(design @ coefficients - rho))),
    }
    model = ExponentialSum(coefficients, eigenvalues, np.ones(width), "direct", meta)
    return model.reparametrized(parametrization)


def fit_power_law_quadrature(
    width: int,
    *,
    exponent: float = POWER_LAW_EXPONENT,
    parametrization: str = "direct",
) -> ExponentialSum:
    """Exponential sum for rho(t) = (t+1)^{-p} by Gauss-Laguerre quadrature of its Laplace form.

    rho(t) = (1/Gamma(p)) int_0^inf u^{p-1} e^{-u} e^{-u t} du, so with the generalised
    Gauss-Laguerre nodes x_k and weights g_k (alpha = p - 1):
    lambda_k = -x_k and c_k = g_k / Gamma(p) > 0, U = 1. rho_hat(0) = 1 exactly and the
    slowest eigenvalue -min(x_k) tends to 0 as m grows.
    """
    width = check_positive_int("width", width)
    exponent = check_positive_float("exponent", exponent)
    check_choice("parametrization", parametrization, EIGEN_PARAMETRIZATIONS)
    nodes, weights = roots_genlaguerre(width, exponent - 1.0)
    meta = {"method": "laguerre", "exponent": exponent}
    model = ExponentialSum(weights / gamma(exponent), -nodes, np.ones(width), "direct", meta)
    return model.reparametrized(parametrization)


def _noise(
    rng: np.random.Generator, betas: np.ndarray, samples: int, size: int, norm: str
) -> np.ndarray:
    """``(n_beta, samples, size)`` noise whose inf-norm (or 2-norm) equals beta per sample."""
    xi = rng.standard_normal((betas.size, samples, size))
    if norm == "inf":  # SPEC 7.4: beta * xi / max|xi| per tensor
        denom = np.max(np.abs(xi), axis=-1, keepdims=True)
    else:  # paper's |.|_2 ball (SPEC eq 11), sampled on its boundary sphere
        denom = np.linalg.norm(xi, axis=-1, keepdims=True)
    return betas[:, None, None] * xi / denom


def model_error(rho: np.ndarray, rho_hat: np.ndarray, error: str = "sup") -> np.ndarray:
    """Error over the last (time) axis: ``sup`` = max |rho - rho_hat|, ``l1`` = sum (eq 20)."""
    diff = np.abs(rho_hat - rho)
    return diff.max(axis=-1) if error == "sup" else diff.sum(axis=-1)


def perturbation_curve(
    model: ExponentialSum,
    target: str | Callable[[np.ndarray], np.ndarray],
    *,
    betas: Sequence[float] | np.ndarray | None = None,
    samples: int = PAPER_SAMPLES,
    grid: Sequence[float] | np.ndarray | None = None,
    norm: str = "inf",
    error: str = "sup",
    perturb: Sequence[str] = ("c", "w", "U"),
    seed: int = 0,
) -> PerturbationCurve:
    """E_m(beta) of an exponential sum under random raw-parameter perturbations (SPEC eq 11).

    Every parameter tensor in ``perturb`` (``c`` readout, ``w`` raw eigenvalue weights,
    ``U`` input weights) gets independent noise of size beta: per-tensor inf-norm = beta
    (``norm="inf"``, official code, SPEC 7.4) or 2-norm = beta (``norm="2"``, the paper's
    ball). Eigenvalues are f(w + noise), so a stable parametrization keeps them negative.

    Parameters
    ----------
    betas: ``(n_beta,)`` non-negative radii, ascending; default the paper's 22 values.
    samples: random perturbations per beta (all evaluated at once).
    error: ``"sup"`` (max over the grid of |rho - rho_hat|) or ``"l1"`` (sum over the grid).

    Returns
    -------
    PerturbationCurve with ``sample_errors`` ``(n_beta, samples)`` and ``errors`` the running
    max over samples and over smaller betas (non-decreasing), ``width = m``.
    """
    if not isinstance(model, ExponentialSum):
        raise TypeError(f"model must be an ExponentialSum, got {type(model).__name__}")
    betas = PAPER_BETAS if betas is None else np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0 or not np.all(np.isfinite(betas)) or np.any(betas < 0):
        raise ValueError("betas must be a non-empty 1-D array of finite non-negative numbers")
    if np.any(np.diff(betas) < 0):
        raise ValueError("betas must be sorted ascending")
    samples = check_positive_int("samples", samples)
    check_choice("norm", norm, ("inf", "2"))
    check_choice("error", error, ("sup", "l1"))
    perturb = tuple(perturb)
    for name in perturb:
        check_choice("perturb entry", name, ("c", "w", "U"))
    seed = check_nonnegative_int("seed", seed)
    grid = _check_grid(grid)
    rho = _target_values(target, grid)

    rng = np.random.default_rng(seed)
    m = model.width
    params = {"c": model.coefficients, "w": model.raw_weights, "U": model.input_weights}
    stacked = {}
    for name in ("c", "w", "U"):  # fixed order: reproducible noise for a given seed
        base = np.broadcast_to(params[name], (betas.size, samples, m))
        stacked[name] = base + _noise(rng, betas, samples, m, norm) if name in perturb else base
    eigenvalues = EIGEN_PARAMETRIZATIONS[model.parametrization][0](stacked["w"])
    rho_hat = _memory(stacked["c"], eigenvalues, stacked["U"], grid)  # (n_beta, S, n)
    sample_errors = model_error(rho, rho_hat, error)  # (n_beta, S)
    errors = np.maximum.accumulate(sample_errors.max(axis=1))  # SPEC 7.4 running max
    meta = {
        "norm": norm,
        "error": error,
        "perturb": list(perturb),
        "seed": seed,
        "parametrization": model.parametrization,
        **{k: v for k, v in model.meta.items() if isinstance(v, (int, float, str))},
    }
    return PerturbationCurve(betas.copy(), errors, sample_errors, width=m, meta=meta)


@dataclass
class RescalingExample:
    """Appendix C (SPEC 6): vanilla vs rescaled linear RNN for rho = sum_k e^{-t/k} / k^2.

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
        return _memory(self.coefficients, self.vanilla_raw, np.ones(self.width), np.asarray(t))

    def rescaled_memory(self, t: np.ndarray) -> np.ndarray:
        """Rescaled rho_hat(t) = sum_k c_k e^{w_k t / k}: shape ``(n,)``."""
        k = np.arange(1, self.width + 1, dtype=np.float64)
        return _memory(self.coefficients, self.rescaled_raw / k, np.ones(self.width), np.asarray(t))


def rescaling_target(t: np.ndarray, terms: int = 100_000) -> np.ndarray:
    """rho(t) = sum_{k=1..terms} e^{-t/k} / k^2 (SPEC 6), truncated at ``terms``: ``(n,)``."""
    k = np.arange(1, check_positive_int("terms", terms) + 1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-np.outer(t, 1.0 / k)) @ (1.0 / k**2)


def rescaling_example(width: int) -> RescalingExample:
    """Build the Appendix C example (SPEC 6) at width m; see :class:`RescalingExample`."""
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
