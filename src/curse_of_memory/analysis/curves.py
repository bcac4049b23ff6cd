"""Plain data container for perturbation-error curves E_m(beta) (paper eq 11)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PerturbationCurve:
    """Estimated perturbation error of one model (one width m).

    Attributes
    ----------
    betas: ``(n_beta,)`` perturbation radii, sorted ascending (``betas[0]`` may be 0).
    errors: ``(n_beta,)`` estimate of E_m(beta): running max over samples and over
        all smaller betas, hence non-decreasing (official protocol).
    sample_errors: ``(n_beta, samples)`` raw error of every perturbed model.
    width: hidden size m of the model (``None`` if not known).
    meta: free-form extra information (norm, loss, mode, seed, ...).
    """

    betas: np.ndarray
    errors: np.ndarray
    sample_errors: np.ndarray
    width: int | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "width": self.width,
            "betas": np.asarray(self.betas).tolist(),
            "errors": np.asarray(self.errors).tolist(),
            "sample_errors": np.asarray(self.sample_errors).tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PerturbationCurve:
        """Inverse of :meth:`to_dict`."""
        return cls(
            betas=np.asarray(data["betas"], dtype=np.float64),
            errors=np.asarray(data["errors"], dtype=np.float64),
            sample_errors=np.asarray(data["sample_errors"], dtype=np.float64),
            width=data.get("width"),
            meta=dict(data.get("meta", {})),
        )
