"""Hidden-state dynamics: equilibria, linearisations, spectral abscissa, phase portraits.

Tools behind the memory figures of Appendices I and J:

- :func:`spectral_abscissa` ``max Re eig(A)``; A is Hurwitz when it is negative.
- :func:`euler_decay_rate` / :func:`euler_leading_mode`: the per-unit-time decay rate
  ``-log max|1 + dt lambda| / dt`` (and angular frequency) of the slowest mode of the
  forward-Euler map of a linearisation (``-max Re lambda`` as ``dt -> 0``).
- :func:`gru_linearisation`: the continuous GRU's linearisation at ``h* = 0`` (paper
  eq 144), ``Diag(sigma(b_z)) (U_h Diag(sigma(b_r)) - I)``, valid when ``b_h = 0``
  (eq 143).
- :func:`find_equilibrium` and :func:`jacobian`: the actual equilibrium of
  ``dh/dt = f(h)`` under a constant input and the linearisation there (the case
  ``b_h != 0`` that the paper leaves open).
- :func:`tanh_velocity_field`: for ``dh/dt = tanh(W h + U x + b)`` (paper eq 3) with a
  constant input, the velocity ``v = dh/dt`` obeys the autonomous equation
  ``dv/dt = (1 - v^2) * (W v)`` whatever ``U``, ``x``, ``b`` are; only ``v(0)`` depends
  on them. Its trajectories are the phase portrait of Figure 11(b).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from curse_of_memory._validation import check_positive_float, check_positive_int

VectorField = Callable[[torch.Tensor], torch.Tensor]


def _as_square(matrix: torch.Tensor | np.ndarray, name: str = "matrix") -> torch.Tensor:
    tensor = torch.as_tensor(matrix)
    if tensor.dim() != 2 or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty square matrix, got shape {tuple(tensor.shape)}"
        )
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} has NaN or infinite entries")
    return tensor.detach()


def eigenvalues(matrix: torch.Tensor | np.ndarray) -> np.ndarray:
    """Eigenvalues of a square matrix, complex ``(m,)`` numpy array (float64 precision)."""
    return torch.linalg.eigvals(_as_square(matrix).double()).numpy()


def spectral_abscissa(matrix: torch.Tensor | np.ndarray) -> float:
    """``max Re eig(matrix)``: negative exactly when the matrix is Hurwitz."""
    return float(eigenvalues(matrix).real.max())


def euler_leading_mode(eigenvalues_: np.ndarray, dt: float) -> tuple[float, float]:
    """Decay rate and angular frequency (per unit time) of the slowest mode of ``I + dt J``.

    ``eigenvalues_`` are those of J (complex array). The slowest mode is the multiplier
    ``mu = 1 + dt lambda`` of largest modulus; its rate is ``-log|mu| / dt`` (equal to
    ``-Re lambda`` up to ``O(dt |lambda|^2)``; negative when the Euler map grows) and its
    frequency ``|arg mu| / dt`` (about ``|Im lambda|``).
    """
    dt = check_positive_float("dt", dt)
    multipliers = 1.0 + dt * np.asarray(eigenvalues_, dtype=np.complex128)
    leading = multipliers[int(np.argmax(np.abs(multipliers)))]
    return -float(np.log(np.abs(leading))) / dt, abs(float(np.angle(leading))) / dt


def euler_decay_rate(eigenvalues_: np.ndarray, dt: float) -> float:
    """Decay rate per unit time of ``h_{k+1} = (I + dt J) h_k``: -log max|1 + dt lambda| / dt."""
    return euler_leading_mode(eigenvalues_, dt)[0]


def gru_gate_biases(gru: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Total biases ``b_r, b_z, b_h`` ``(m,)`` of a ``ContinuousGRU`` (``b_ih + b_hh`` per gate).

    With a Heaviside input x the input terms join them (paper eqs 141-142); here x = 0.
    """
    m = gru.hidden_size
    if gru.bias_ih is None:
        zeros = gru.weight_hh.new_zeros(m)
        return {"r": zeros, "z": zeros, "h": zeros}
    total = (gru.bias_ih + gru.bias_hh).detach()  # rows r, z, h_hat
    return {"r": total[:m], "z": total[m : 2 * m], "h": total[2 * m :]}


def gru_linearisation(gru: torch.nn.Module) -> torch.Tensor:
    """Paper eq 144: ``Diag(sigma(b_z)) (U_h Diag(sigma(b_r)) - I)``, ``(m, m)``.

    The Jacobian of the continuous GRU (eq 142) at ``h = 0`` for zero input; ``h = 0`` is
    an equilibrium only when ``b_h = 0`` (eq 143). Needs ``reset_after=False`` (eq 133).
    """
    if getattr(gru, "reset_after", None) is not False:
        raise ValueError(
            "gru_linearisation needs a ContinuousGRU with reset_after=False (paper eq 133, "
            "U_h (r * h)); the torch variant r * (U_h h + b) has a different Jacobian"
        )
    m = gru.hidden_size
    biases = gru_gate_biases(gru)
    u_h = gru.weight_hh[2 * m :].detach()  # (m, m)
    identity = torch.eye(m, dtype=u_h.dtype, device=u_h.device)
    return torch.diag(torch.sigmoid(biases["z"])) @ (
        u_h @ torch.diag(torch.sigmoid(biases["r"])) - identity
    )  # eq 144


def jacobian(field: VectorField, state: torch.Tensor) -> torch.Tensor:
    """``d field / d state`` at ``state`` ``(m,)``: ``(m, m)`` (autograd)."""
    return torch.autograd.functional.jacobian(field, state.detach())


def find_equilibrium(
    field: VectorField,
    start: torch.Tensor,
    *,
    relax_step: float = 0.5,
    relax_steps: int = 20000,
    tol: float = 1e-12,
    newton_steps: int = 50,
) -> tuple[torch.Tensor, float]:
    """An equilibrium ``f(h*) = 0`` of ``dh/dt = f(h)`` near the trajectory from ``start``.

    Integrates ``dh/dt = f(h)`` by forward Euler (step ``relax_step``) until
    ``max|f| <= sqrt(tol)`` or ``relax_steps`` steps, so a stable equilibrium is reached
    from its basin, then polishes with Newton's method. Returns ``(h*, max|f(h*)|)``;
    the caller decides whether the residual is small enough (unstable equilibria are
    reached only if Newton converges from where the relaxation stopped).

    Parameters
    ----------
    field: ``(m,) -> (m,)`` vector field (float64 recommended).
    start: initial state ``(m,)``.
    """
    relax_step = check_positive_float("relax_step", relax_step)
    relax_steps = check_positive_int("relax_steps", relax_steps)
    tol = check_positive_float("tol", tol)
    newton_steps = check_positive_int("newton_steps", newton_steps)
    h = start.detach().clone()
    with torch.no_grad():
        for _ in range(relax_steps):
            velocity = field(h)
            if float(velocity.abs().max()) <= tol**0.5:
                break
            h = h + relax_step * velocity
    for _ in range(newton_steps):
        residual = field(h).detach()
        if float(residual.abs().max()) <= tol:
            break
        step = torch.linalg.lstsq(jacobian(field, h), -residual[:, None]).solution[:, 0]
        h = h + step
    with torch.no_grad():
        return h.detach(), float(field(h).abs().max())


def tanh_velocity_field(weight: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """``dv/dt = (1 - v^2) * (W v)`` for ``v = dh/dt`` of ``dh/dt = tanh(W h + U x + b)``.

    Differentiating eq 3 with a constant input: ``dv/dt = tanh'(z) * W dh/dt`` and
    ``tanh'(z) = 1 - tanh(z)^2 = 1 - v^2``. ``weight`` ``(m, m)``; ``velocity`` ``(m, ...)``
    (extra axes broadcast, e.g. a grid for a stream plot); returns the same shape.
    """
    weight = np.asarray(weight, dtype=np.float64)
    velocity = np.asarray(velocity, dtype=np.float64)
    return (1.0 - velocity**2) * np.tensordot(weight, velocity, axes=(1, 0))
