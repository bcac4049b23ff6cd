"""Weight noise for the perturbation error: draws, per-tensor norms, projections.

Every function works on *stacked* tensors: a leading model axis of length ``n``
holds one perturbation per perturbed model, and ``radii`` is ``(n,)`` (one ball
radius beta per model). Each tensor has its own *block norm*:

``"max"``
    Entry-wise ``max |delta_ij|``: every tensor under ``norm="inf"`` (the official
    code: each tensor's noise is ``beta * xi / max|xi|``), and under ``norm="paper"``
    the raw eigenvalue vector of a diagonal (or diagonalised) recurrent matrix, since
    the spectral norm of ``diag(delta)`` is ``max |delta_i|``.
``"spectral"``
    Largest singular value: matrices under ``norm="paper"`` (paper eq 11; tensors with
    more than two axes are read as the matrix ``(shape[0], rest)``).
``"euclidean"``
    ``|delta|_2``: vectors (and 0-d tensors) under ``norm="paper"`` (paper eq 11).

The ball ``{|delta|_block <= beta for every tensor}`` is a product of per-tensor
balls, so scaling every tensor's noise to norm exactly ``beta`` samples the
boundary of that ball (a product of spheres), never its interior.
"""

from __future__ import annotations

import torch

NORMS = ("inf", "paper")
BLOCK_NORMS = ("max", "spectral", "euclidean")


def block_norm(norm: str, shape: torch.Size, diagonal: bool) -> str:
    """The block norm of one tensor of ``shape`` under ``norm`` (``"inf"`` or ``"paper"``).

    ``diagonal``: the tensor holds the diagonal of a recurrent matrix W (its raw
    eigenvalue weights), so the paper's spectral norm of ``diag(delta)`` is the max norm.
    """
    if norm == "inf" or diagonal:
        return "max"
    return "spectral" if len(shape) >= 2 else "euclidean"


def _as_matrices(stacked: torch.Tensor) -> torch.Tensor:
    """View ``(n, r, ...)`` as ``(n, r, rest)`` for spectral norms / SVDs."""
    return stacked.reshape(stacked.shape[0], stacked.shape[1], -1)


def expand_radii(radii: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape ``(n,)`` radii to broadcast against a stacked tensor ``(n, ...)``."""
    return radii.reshape(-1, *([1] * (like.dim() - 1))).to(like)


def tensor_norms(stacked: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-model block norm of one stacked tensor: ``(n, *shape) -> (n,)``."""
    flat = stacked.reshape(stacked.shape[0], -1)
    if kind == "max":
        return flat.abs().amax(dim=1)
    if kind == "spectral":  # paper eq 11
        return torch.linalg.matrix_norm(_as_matrices(stacked), ord=2)
    return torch.linalg.vector_norm(flat, dim=1)  # Euclidean, paper eq 11


def draw_noise(
    shapes: dict[str, torch.Size],
    kinds: dict[str, str],
    radii: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Gaussian directions scaled so every tensor's noise has block norm exactly its radius.

    For each model ``k = 0..n-1`` in order, one ``torch.randn(total, generator=...,
    dtype=float64)`` draw of all ``total`` parameter entries is made and split, in the
    order of ``shapes``, into row-major tensors ``xi``; each is scaled to
    ``radii[k] * xi / |xi|`` in its block norm ``kinds[name]``.

    Returns a dict of float64 CPU tensors of shape ``(n, *shape)``.
    """
    sizes = [int(torch.Size(s).numel()) for s in shapes.values()]
    n = radii.shape[0]
    draws = torch.stack(
        [torch.randn(sum(sizes), generator=generator, dtype=torch.float64) for _ in range(n)]
    )  # (n, total)
    noise = {}
    for (name, shape), chunk in zip(shapes.items(), draws.split(sizes, dim=1), strict=True):
        xi = chunk.reshape(n, *shape)
        scale = radii.to(torch.float64) / tensor_norms(xi, kinds[name])
        noise[name] = xi * expand_radii(scale, xi)
    return noise


def project(stacked: torch.Tensor, radii: torch.Tensor, kind: str) -> torch.Tensor:
    """Euclidean projection of each model's tensor onto its ball of radius ``radii[k]``.

    ``"max"``: clip entries to ``[-beta, beta]``. ``"euclidean"``: rescale to norm
    ``min(|v|, beta)``. ``"spectral"``: clip the singular values at ``beta``.
    """
    if kind == "max":
        bound = expand_radii(radii, stacked)
        return torch.maximum(torch.minimum(stacked, bound), -bound)
    if kind == "euclidean":
        norms = tensor_norms(stacked, kind)
        shrink = torch.where(norms > radii, radii / norms.clamp_min(1e-300), torch.ones_like(norms))
        return stacked * expand_radii(shrink, stacked)
    u, s, vh = torch.linalg.svd(_as_matrices(stacked), full_matrices=False)
    s = torch.minimum(s, radii.to(s).unsqueeze(-1))
    return ((u * s.unsqueeze(-2)) @ vh).reshape(stacked.shape)


def ascent_direction(grad: torch.Tensor, kind: str) -> torch.Tensor:
    """Steepest-ascent direction of unit block norm.

    ``"max"``: ``sign(grad)``. ``"euclidean"``: ``grad / |grad|_2``. ``"spectral"``: the
    polar factor ``U V^T`` of ``grad = U S V^T`` (the maximiser of ``<grad, d>`` over the
    unit spectral-norm ball). Non-finite gradients count as 0.
    """
    grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
    if kind == "max":
        return torch.sign(grad)
    if kind == "euclidean":
        norms = tensor_norms(grad, kind)
        return grad / expand_radii(norms.clamp_min(1e-300), grad)
    u, s, vh = torch.linalg.svd(_as_matrices(grad), full_matrices=False)
    keep = (s > 0).to(s).unsqueeze(-2)  # drop directions the gradient does not see
    return ((u * keep) @ vh).reshape(grad.shape)
