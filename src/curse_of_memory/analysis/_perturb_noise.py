"""Weight noise for the perturbation error: draws, per-tensor norms, projections.

Every function works on *stacked* tensors: a leading model axis of length ``n``
holds one perturbation per perturbed model, and ``radii`` is ``(n,)`` (one ball
radius beta per model). Two per-tensor norms are supported:

``"inf"``
    Entry-wise max norm ``max |delta_ij|`` -- the official code's convention
    (SPEC 7.4: each tensor's noise is ``beta * xi / max|xi|``).
``"paper"``
    SPEC eq 11's ``|theta|_2 = max over blocks of the 2-norm``: the spectral norm
    of a matrix and the Euclidean norm of a vector (tensors with more than two
    axes are read as the matrix ``(shape[0], rest)``; a 0-d tensor uses ``|x|``).

The ball ``{|delta|_block <= beta for every tensor}`` is a product of per-tensor
balls, so scaling every tensor's noise to norm exactly ``beta`` samples the
boundary of that ball (a product of spheres), never its interior.
"""

from __future__ import annotations

import torch

NORMS = ("inf", "paper")


def _as_matrices(stacked: torch.Tensor) -> torch.Tensor:
    """View ``(n, r, ...)`` as ``(n, r, rest)`` for spectral norms / SVDs."""
    return stacked.reshape(stacked.shape[0], stacked.shape[1], -1)


def _is_matrix(stacked: torch.Tensor) -> bool:
    """Whether one model's slice has two or more axes (a matrix block)."""
    return stacked.dim() >= 3


def expand_radii(radii: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape ``(n,)`` radii to broadcast against a stacked tensor ``(n, ...)``."""
    return radii.reshape(-1, *([1] * (like.dim() - 1))).to(like)


def tensor_norms(stacked: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-model norm of one stacked tensor.

    Parameters
    ----------
    stacked: ``(n, *shape)``.
    norm: ``"inf"`` or ``"paper"``.

    Returns ``(n,)``.
    """
    flat = stacked.reshape(stacked.shape[0], -1)
    if norm == "inf":
        return flat.abs().amax(dim=1)
    if _is_matrix(stacked):  # spectral norm, SPEC eq 11
        return torch.linalg.matrix_norm(_as_matrices(stacked), ord=2)
    return torch.linalg.vector_norm(flat, dim=1)  # Euclidean norm, SPEC eq 11


def draw_noise(
    shapes: dict[str, torch.Size],
    radii: torch.Tensor,
    norm: str,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Gaussian directions scaled so every tensor's noise has norm exactly its radius.

    For each model ``k = 0..n-1`` in order, one ``torch.randn(total, generator=...,
    dtype=float64)`` draw of all ``total`` parameter entries is made and split, in the
    order of ``shapes``, into row-major tensors ``xi``; each is scaled to
    ``radii[k] * xi / |xi|`` (SPEC 7.4 for ``"inf"``, SPEC eq 11 for ``"paper"``).

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
        scale = radii.to(torch.float64) / tensor_norms(xi, norm)
        noise[name] = xi * expand_radii(scale, xi)
    return noise


def project(stacked: torch.Tensor, radii: torch.Tensor, norm: str) -> torch.Tensor:
    """Euclidean projection of each model's tensor onto its ball of radius ``radii[k]``.

    ``"inf"``: clip entries to ``[-beta, beta]``. ``"paper"``: rescale a vector to norm
    ``min(|v|, beta)``; clip a matrix's singular values at ``beta``.
    """
    if norm == "inf":
        bound = expand_radii(radii, stacked)
        return torch.maximum(torch.minimum(stacked, bound), -bound)
    if not _is_matrix(stacked):
        norms = tensor_norms(stacked, norm)
        shrink = torch.where(norms > radii, radii / norms.clamp_min(1e-300), torch.ones_like(norms))
        return stacked * expand_radii(shrink, stacked)
    u, s, vh = torch.linalg.svd(_as_matrices(stacked), full_matrices=False)
    s = torch.minimum(s, radii.to(s).unsqueeze(-1))
    return ((u * s.unsqueeze(-2)) @ vh).reshape(stacked.shape)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit norm for the per-tensor norm.

    ``"inf"``: ``sign(grad)``. ``"paper"``: ``grad / |grad|_2`` for a vector and the
    polar factor ``U V^T`` of ``grad = U S V^T`` for a matrix (the maximiser of
    ``<grad, d>`` over the unit spectral-norm ball). Non-finite gradients count as 0.
    """
    grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
    if norm == "inf":
        return torch.sign(grad)
    if not _is_matrix(grad):
        norms = tensor_norms(grad, norm)
        return grad / expand_radii(norms.clamp_min(1e-300), grad)
    u, s, vh = torch.linalg.svd(_as_matrices(grad), full_matrices=False)
    keep = (s > 0).to(s).unsqueeze(-2)  # drop directions the gradient does not see
    return ((u * keep) @ vh).reshape(grad.shape)
