"""Continuous-time RNN with a reparameterised recurrent matrix (paper eqs 3, 4, 18).

The model is ``dh/dt = sigma(W h + U x + b)``, ``y = c^T h (+ d)``, ``h_0 = 0``
(paper eq 3), discretised by forward Euler with step ``dt`` exactly as the
official code (github.com/radarFudan/Curse-of-memory) does::

    h_{k+1} = h_k + dt * sigma(W h_k + U x_k + b),   y_k = c^T h_{k+1} (+ d),   k = 0..T-1

so the output at step ``k`` already contains the input ``x_k``. The recurrence
itself runs in :func:`curse_of_memory.kernels.euler_recurrence`.

Structure of W (``structure=``):

- ``diagonal``: ``W = diag(lambda)``.
- ``symmetric``: ``W = Q diag(lambda) Q^T`` with ``Q`` kept orthogonal by the
  :class:`~curse_of_memory.models.orthogonal.HouseholderOrthogonal` parametrization
  (so the eigenvalues of W are exactly ``lambda``, also after training, huge
  perturbations of the raw weights, or a dtype change). The
  official code writes the same thing as ``-Q'^T diag(f(w)) Q'`` with ``Q' = Q^T``
  and leaves ``Q'`` unconstrained.
- ``dense``: ``W`` is an unconstrained ``(m, m)`` matrix. Eigenvalue maps do not
  apply to a general matrix (``-expm(M)`` is not Hurwitz for complex spectra), so
  ``dense`` supports only ``parametrization="direct"``.

Eigenvalues ``lambda = f(w)`` come from trainable raw weights ``w`` through one of
:data:`~curse_of_memory.models.parametrizations.PARAMETRIZATIONS` (paper eq 18),
registered with :mod:`torch.nn.utils.parametrize`; ``model.parameters()`` are
exactly the raw (trainable, perturbable) weights.

Parameter names (what ``named_parameters()`` / ``state_dict()`` show):

=================================================  ==========  =======================
tensor                                             shape       meaning
=================================================  ==========  =======================
``parametrizations.eigenvalues.original``          (m,)        raw w (diagonal/symmetric)
``parametrizations.basis.original``                (m, m)      raw weight of Q (symmetric)
``recurrent_weight``                               (m, m)      W itself (dense)
``input_kernel.weight``                            (m, d)      U
``input_kernel.bias``                              (m,)        b (if ``bias=True``)
``readout.weight``                                 (out, m)    c^T
``readout.bias``                                   (out,)      readout bias (if requested)
=================================================  ==========  =======================

Only the strictly lower triangle of the raw basis weight is used (Householder vectors).

Initialisation (seed with ``torch.manual_seed``): U, b, c use ``nn.Linear``'s
default uniform init; eigenvalues are ``lambda_i = -exp(u_i)`` with ``u_i``
uniform on ``[log r_min, log r_max]`` (``init_decay_range=(r_min, r_max)``,
default ``(0.01, 1.0)``), so the model starts stable with decay rates spread
over two decades; ``Q`` is a Haar-random orthogonal matrix; the dense W starts as
``Q diag(lambda) Q^T``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.kernels import ACTIVATIONS, BACKEND_CHOICES, euler_recurrence, euler_rnn_layer
from curse_of_memory.models._common import check_flag, check_model_input
from curse_of_memory.models.orthogonal import (
    HouseholderOrthogonal,
    householder_raw_from_orthogonal,
)
from curse_of_memory.models.parametrizations import PARAMETRIZATIONS, make_parametrization

STRUCTURES = ("diagonal", "symmetric", "dense")


def _random_orthogonal(m: int) -> torch.Tensor:
    """Haar-random ``(m, m)`` orthogonal matrix (QR of a Gaussian with sign-fixed R)."""
    q, r = torch.linalg.qr(torch.randn(m, m))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def _check_decay_range(value: Any) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"init_decay_range must be a pair (r_min, r_max), got {value!r}")
    low = check_positive_float("init_decay_range[0]", value[0])
    high = check_positive_float("init_decay_range[1]", value[1])
    if low > high:
        raise ValueError(f"init_decay_range must have r_min <= r_max, got {tuple(value)!r}")
    return low, high


class ContinuousRNN(nn.Module):
    """Forward-Euler continuous-time RNN ``dh/dt = sigma(W h + U x + b)``, ``y = c^T h``.

    Parameters
    ----------
    hidden_size: m >= 1.
    input_size: d >= 1.
    output_size: number of outputs (rows of the readout), >= 1.
    activation: one of ``ACTIVATIONS`` (``linear``, ``tanh``, ``hardtanh``, ``relu``).
    parametrization: eigenvalue map name, one of ``PARAMETRIZATIONS``.
    structure: one of ``STRUCTURES`` (``diagonal``, ``symmetric``, ``dense``).
    dt: Euler step (> 0).
    bias: include the drive bias b (paper eq 3). ``False`` gives b = 0.
    readout_bias: add a bias to the readout ``y = c^T h + d``.
    backend: recurrence backend, ``"auto"`` or a name in :data:`curse_of_memory.kernels.BACKENDS`.
    inverse_a, inverse_b: constants a > 0, b >= 0 of the ``inverse`` map.
    init_decay_range: ``(r_min, r_max)``, initial ``|lambda|`` are log-uniform in it.

    Shapes: ``forward(x)`` maps ``(batch, T, input_size)`` to ``(batch, T, output_size)``.
    """

    def __init__(
        self,
        hidden_size: int,
        input_size: int = 1,
        output_size: int = 1,
        activation: str = "tanh",
        parametrization: str = "softplus",
        structure: str = "diagonal",
        dt: float = 1.0,
        bias: bool = True,
        readout_bias: bool = False,
        backend: str = "auto",
        inverse_a: float = 1.0,
        inverse_b: float = 0.1,
        init_decay_range: Sequence[float] = (0.01, 1.0),
    ) -> None:
        super().__init__()
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.input_size = check_positive_int("input_size", input_size)
        self.output_size = check_positive_int("output_size", output_size)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.parametrization = check_choice("parametrization", parametrization, PARAMETRIZATIONS)
        self.structure = check_choice("structure", structure, STRUCTURES)
        if self.structure == "dense" and self.parametrization != "direct":
            raise ValueError(
                f"structure='dense' supports only parametrization='direct' (got "
                f"{parametrization!r}): eigenvalue maps need a diagonalising basis; use "
                "structure='diagonal' or 'symmetric' for stable parametrizations"
            )
        self.dt = check_positive_float("dt", dt)
        self.bias = check_flag("bias", bias)
        self.readout_bias = check_flag("readout_bias", readout_bias)
        self.backend = check_choice("backend", backend, BACKEND_CHOICES)
        self.inverse_a = check_positive_float("inverse_a", inverse_a)
        self.inverse_b = check_finite_float("inverse_b", inverse_b)
        if self.inverse_b < 0:
            raise ValueError(f"inverse_b must be >= 0, got {inverse_b!r}")
        self.init_decay_range = _check_decay_range(init_decay_range)
        if self.parametrization == "inverse" and self.init_decay_range[1] * self.inverse_b > 1:
            raise ValueError(
                f"init_decay_range={tuple(init_decay_range)!r} exceeds the range of the 'inverse' "
                f"map, |lambda| <= 1/inverse_b = {1 / self.inverse_b:.6g}"
            )
        eigenvalue_map = make_parametrization(self.parametrization, inverse_a, inverse_b)

        m = self.hidden_size
        self.input_kernel = nn.Linear(self.input_size, m, bias=self.bias)  # U, b
        self.readout = nn.Linear(m, self.output_size, bias=self.readout_bias)  # c^T, d
        low, high = self.init_decay_range
        log_rates = torch.empty(m).uniform_(math.log(low), math.log(high))
        initial_eigenvalues = -torch.exp(log_rates)
        if self.structure == "dense":
            basis = _random_orthogonal(m)
            self.recurrent_weight = nn.Parameter(basis @ torch.diag(initial_eigenvalues) @ basis.T)
            return
        self.eigenvalues = nn.Parameter(initial_eigenvalues)
        # paper eq 18: lambda = f(w); right_inverse sets w so that f(w) = initial_eigenvalues.
        parametrize.register_parametrization(self, "eigenvalues", eigenvalue_map)
        if self.structure == "symmetric":
            # raw (m, m) -> orthogonal Q by Householder reflections; starts at a Haar-random Q.
            self.basis = nn.Parameter(householder_raw_from_orthogonal(_random_orthogonal(m)))
            parametrize.register_parametrization(self, "basis", HouseholderOrthogonal())

    # ------------------------------------------------------------------ weights
    @property
    def raw_recurrent_weight(self) -> torch.Tensor:
        """The trainable tensor behind W: raw eigenvalue weight w ``(m,)``, or W ``(m, m)`` (dense).

        For ``symmetric`` the orthogonal basis has its own raw weight,
        ``parametrizations.basis.original``.
        """
        if self.structure == "dense":
            return self.recurrent_weight
        return self.parametrizations.eigenvalues.original

    def recurrent_matrix(self) -> torch.Tensor:
        """Effective continuous-time W, ``(m, m)`` (differentiable)."""
        if self.structure == "dense":
            return self.recurrent_weight
        eigenvalues = self.eigenvalues  # (m,)
        if self.structure == "diagonal":
            return torch.diag(eigenvalues)
        basis = self.basis  # (m, m), orthogonal
        return (basis * eigenvalues) @ basis.T  # Q diag(lambda) Q^T

    def _recurrent_for_kernel(self) -> torch.Tensor:
        """``(m,)`` diagonal of W for ``diagonal``, else the dense ``(m, m)`` W."""
        if self.structure == "diagonal":
            return self.eigenvalues
        return self.recurrent_matrix()

    def recurrent_eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of W, ``(m,)`` complex, detached."""
        with torch.no_grad():
            return self._eigenvalues_of_w()

    def _eigenvalues_of_w(self) -> torch.Tensor:
        """Eigenvalues of W, ``(m,)`` complex, differentiable w.r.t. the raw weights."""
        if self.structure == "dense":
            return torch.linalg.eigvals(self.recurrent_weight)
        # Q is orthogonal by construction, so eig(Q diag(lambda) Q^T) = lambda.
        return self.eigenvalues.to(torch.promote_types(self.eigenvalues.dtype, torch.complex64))

    def stability_margin(self) -> float:
        """``-max Re eig(W)``: positive when the continuous-time model is stable."""
        return float(self.differentiable_stability_margin().detach())

    def differentiable_stability_margin(self) -> torch.Tensor:
        """``-max Re eig(W)`` as a 0-d tensor with gradient w.r.t. the raw weights.

        Used by the official code's training penalty ``0.01 relu(1 - margin)``.
        """
        return -self._eigenvalues_of_w().real.max()

    def euler_spectral_radius(self) -> float:
        """``max |1 + dt * eig(W)|``: the Euler map of the linearised model is stable iff < 1.

        A stable W can still give an unstable Euler step when ``dt |lambda| > 2``.
        """
        return float((1 + self.dt * self.recurrent_eigenvalues()).abs().max())

    def effective_parameters(self) -> dict[str, torch.Tensor | None]:
        """The paper's ``theta = (W, U, b, c)`` (paper eq 4): ``W (m,m)``, ``U (m,d)``,
        ``b (m,)`` or ``None``, ``c (out,m)`` (readout rows)."""
        return {
            "W": self.recurrent_matrix(),
            "U": self.input_kernel.weight,
            "b": self.input_kernel.bias,
            "c": self.readout.weight,
        }

    # ------------------------------------------------------------------ forward
    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states ``h_1..h_T``, ``(batch, T, m)``, for input ``x`` ``(batch, T, d)``."""
        x = check_model_input(x, self.input_size, self)
        drive = self.input_kernel(x)  # (batch, T, m) = U x_k + b
        return euler_recurrence(
            drive, self._recurrent_for_kernel(), self.dt, self.activation, self.backend
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, T, output_size)`` for inputs ``x`` ``(batch, T, input_size)``.

        Definition (paper eq 3, Euler; the reference every backend is tested against)::

            y = self.readout(self.hidden_states(x))  # (B, T, d) -> (B, T, m) -> (B, T, out)

        Computed by one call of :func:`curse_of_memory.kernels.euler_rnn_layer`, which
        on CPU fuses input map, recurrence and readout into one compiled loop (speed only).
        """
        x = check_model_input(x, self.input_size, self)
        return euler_rnn_layer(
            x,
            self.input_kernel.weight,  # (m, d) U
            self.input_kernel.bias,  # (m,) b or None
            self._recurrent_for_kernel(),  # (m,) diagonal of W or (m, m) W
            self.readout.weight,  # (out, m) c^T
            self.readout.bias,  # (out,) or None
            self.dt,
            self.activation,
            self.backend,
        )

    # ------------------------------------------------------------------ config
    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-friendly dict (``build_model`` rebuilds the model)."""
        return {
            "model": "ContinuousRNN",  # not type(self): parametrize renames the class
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "activation": self.activation,
            "parametrization": self.parametrization,
            "structure": self.structure,
            "dt": self.dt,
            "bias": self.bias,
            "readout_bias": self.readout_bias,
            "backend": self.backend,
            "inverse_a": self.inverse_a,
            "inverse_b": self.inverse_b,
            "init_decay_range": list(self.init_decay_range),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ContinuousRNN:
        """Build a fresh (randomly initialised) model from ``config()`` output."""
        if config.get("model", "ContinuousRNN") != "ContinuousRNN":
            raise ValueError(f"config is for model {config['model']!r}, not 'ContinuousRNN'")
        return cls(**{key: value for key, value in config.items() if key != "model"})

    def extra_repr(self) -> str:
        return (
            f"hidden_size={self.hidden_size}, activation={self.activation!r}, "
            f"parametrization={self.parametrization!r}, structure={self.structure!r}, dt={self.dt}"
        )
