"""Orthogonal matrices from unconstrained raw weights, robust to any perturbation.

``Q = H_1 H_2 ... H_m`` with Householder reflections ``H_j = I - 2 v_j v_j^T / |v_j|^2``,
where ``v_j`` has a 1 in row ``j``, zeros above and the raw weight's column ``j``
below the diagonal (the strictly lower triangle of the raw ``(m, m)`` matrix; its
diagonal and upper triangle are unused). Every raw matrix gives an orthogonal Q
to machine precision -- including after huge perturbations or a dtype change,
which ``torch.nn.utils.parametrizations.orthogonal`` does not guarantee (its
``matrix_exp`` map loses orthogonality for large raw weights, its ``householder``
map reads column signs from the raw diagonal, and its trivialization keeps a base
in the dtype it was built in).

Products of reflections reach every orthogonal matrix up to column signs, which
do not matter for ``W = Q diag(lambda) Q^T``.
"""

from __future__ import annotations

import torch
from torch import nn


class HouseholderOrthogonal(nn.Module):
    """Parametrization ``raw (m, m) -> Q (m, m)`` orthogonal (see module docstring)."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """``(m, m) -> (m, m)``.

        Evaluated in the compact "UT" form of the product of reflections (Joffrain et
        al., 2006): with unit columns u_j = v_j / |v_j|, ``Q = I - U T U^T`` where
        ``T^{-1} = striu(U^T U) + I / 2``. Two GEMMs and a triangular solve: about 7x
        faster forward + backward than ``torch.linalg.householder_product`` at m = 64,
        and the same Q to rounding. Normalising each column by its max-abs entry first
        keeps huge raw weights from overflowing.
        """
        m = raw.shape[-1]
        eye = torch.eye(m, dtype=raw.dtype, device=raw.device)
        reflectors = raw.tril(-1) + eye  # columns are v_j (unit entry on the diagonal)
        units = reflectors / reflectors.abs().amax(dim=-2, keepdim=True)  # max-abs 1
        units = units / torch.linalg.vector_norm(units, dim=-2, keepdim=True)
        inverse_t = (units.mT @ units).triu(1) + 0.5 * eye  # T^{-1}, upper triangular
        return eye - units @ torch.linalg.solve_triangular(inverse_t, units.mT, upper=True)


def householder_raw_from_orthogonal(q: torch.Tensor) -> torch.Tensor:
    """Raw ``(m, m)`` weights mapped by :class:`HouseholderOrthogonal` to ``q`` up to column signs.

    Uses LAPACK's QR (``geqrf``), whose reflectors have exactly the form above.
    """
    reflectors, _ = torch.geqrf(q)
    return reflectors.tril(-1)
