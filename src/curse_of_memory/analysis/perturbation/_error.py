"""Perturbation error E_m(beta) of a model (paper eq 11, official protocol as options).

    E_m(beta) = sup_{|theta~ - theta|_2 <= beta} || H - H_hat(.; theta~) ||      (paper eq 11)

is estimated from below by evaluating perturbed copies of the model:

* **Distance.** A :class:`~curse_of_memory.analysis.perturbation.PerturbationLoss`
  (``mse_loss``, ``twe_mse_loss``, ``sobolev_loss``, ``impulse_response_loss``,
  ``custom_loss``) holds the inputs, the reference outputs and the distance.
* **What is perturbed.** The trainable raw weights (``requires_grad=True``; for
  ``torch.nn.utils.parametrize`` modules the ``.original`` tensors), so a stable
  reparameterization stays stable. ``relu="official"`` perturbs the eigenvalues
  of ``relu``-parametrized models after ``w <- relu(w)``, as the official code does.
* **Norm.** ``norm="inf"``: every tensor's noise has max-abs exactly beta (official
  code). ``norm="paper"``: every tensor's noise has 2-norm exactly beta (paper eq 11):
  spectral norm for matrices, Euclidean for vectors, and for the raw eigenvalues of a
  diagonal(ised) W the spectral norm of ``diag(delta)``, i.e. ``max |delta_i|``. The
  random draws lie on the boundary of the ball (a product of per-tensor spheres).
* **Random draws.** ``samples`` Gaussian directions per beta > 0, drawn from one
  ``torch.Generator`` seeded with ``seed`` (order: beta, sample; each model's draw is one
  ``randn`` of all entries split in parameter order). Unlike the official code, which
  reuses the same directions at every beta, directions are drawn independently for every
  (beta, sample). beta = 0 draws nothing and gives exactly the unperturbed error.
* **Adversarial refinement** (``mode="adversarial"``): from each random draw, a few steps
  of projected gradient ascent on the raw weights inside the ball (step ``2 beta / (i + 1)``
  at iteration ``i``), keeping the largest loss seen: still a lower bound on the sup, and
  never below the random estimate with the same seed.
* **Monotone estimate.** The reported ``errors`` are a running maximum over the samples,
  over all smaller betas and over the unperturbed model (which lies in every ball), hence
  non-decreasing in beta (official protocol). A perturbed model whose loss is NaN
  (overflow) is recorded as ``+inf``.
* **One batched pass.** All perturbed parameter sets are stacked along a leading model axis
  and evaluated with ``torch.vmap(functional_call)`` (``chunk_size`` models at a time);
  ``nn.RNN``/``GRU``/``LSTM`` submodules run a plain-torch forward under vmap. A model vmap
  cannot handle is evaluated in a loop, with a ``RuntimeWarning``; ``vectorize=False`` asks
  for that loop directly (same numbers; on CPU with large data batches it can be faster).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_int,
    primary_output,
)
from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.perturbation._evaluate import ModelBatchEvaluator
from curse_of_memory.analysis.perturbation._noise import (
    NORMS,
    ascent_direction,
    block_norm,
    draw_noise,
    expand_radii,
    project,
)
from curse_of_memory.analysis.perturbation._weights import (
    RELU_SEMANTICS,
    diagonal_weight_names,
    project_relu_eigenvalues,
    trainable_weights,
)
from curse_of_memory.analysis.perturbation.losses import PerturbationLoss

MODES = ("random", "adversarial")

PAPER_BETA_KINDS = ("linear", "nonlinear", "official")


def paper_betas(kind: str) -> np.ndarray:
    """The perturbation radii of the paper (Appendix D) and of the official code.

    Parameters
    ----------
    kind:
        ``"linear"``: 0 and ``5e-4 * 2^k``, k = 0..20 (22 values, the linear experiments).
        ``"nonlinear"``: 0 and ``1e-11 * 2^k``, k = 0..35 (37 values, the nonlinear ones).
        ``"official"``: 0 and ``1e-3 * 2^(k/2)``, k = 0..20 (22 values, official code).

    Returns
    -------
    ``(n_beta,)`` float64 array, ascending, starting with 0.
    """
    check_choice("kind", kind, PAPER_BETA_KINDS)
    if kind == "linear":
        radii = 5e-4 * 2.0 ** np.arange(21)
    elif kind == "nonlinear":
        radii = 1e-11 * 2.0 ** np.arange(36)
    else:
        radii = 1e-3 * 2.0 ** (np.arange(21) / 2)
    return np.concatenate([[0.0], radii])


def _check_betas(betas: Any) -> np.ndarray:
    """1-D, non-empty, finite, non-negative, sorted ascending; returned as float64."""
    try:
        values = np.asarray(
            betas.detach().cpu() if isinstance(betas, torch.Tensor) else betas, dtype=np.float64
        )
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a 1-D sequence of numbers, got {betas!r}") from None
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"betas must be a non-empty 1-D sequence, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError("betas contains NaN")
    if not np.isfinite(values).all():
        raise ValueError("betas must be finite, got an infinite value")
    if (values < 0).any():
        raise ValueError(f"betas must be non-negative, got {values.min()}")
    if (np.diff(values) < 0).any():
        raise ValueError("betas must be sorted ascending")
    return values


_MIGRATION = (
    "perturbation_error(model, loss, betas) takes a loss object instead of inputs and "
    "targets: write perturbation_error(model, mse_loss(inputs, targets), betas) (or "
    "twe_mse_loss, sobolev_loss, impulse_response_loss, custom_loss)"
)


def _check_loss(loss: Any) -> PerturbationLoss:
    if not isinstance(loss, PerturbationLoss):
        raise TypeError(
            "loss must be a PerturbationLoss from mse_loss, twe_mse_loss, sobolev_loss, "
            f"impulse_response_loss or custom_loss, got {type(loss).__name__}"
        )
    return loss


def _check_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    return dtype


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _nan_to_inf(values: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isnan(values), torch.full_like(values, math.inf), values)


def _adversarial_losses(
    evaluator: ModelBatchEvaluator,
    theta: dict[str, torch.Tensor],
    delta: dict[str, torch.Tensor],
    radii: torch.Tensor,
    kinds: dict[str, str],
    steps: int,
) -> torch.Tensor:
    """Projected gradient ascent from ``delta`` inside the per-tensor balls; best loss seen."""
    best = torch.full_like(radii, -math.inf)
    for iteration in range(steps):
        losses, grads = evaluator.losses_and_grads({k: theta[k] + delta[k] for k in theta})
        best = torch.maximum(best, _nan_to_inf(losses).to(best))
        # Step 2 beta / (iteration + 1): first a jump across the whole ball, then refinement.
        step = 2.0 * radii / (iteration + 1)
        delta = {
            k: project(
                d + expand_radii(step, d) * ascent_direction(grads[k], kinds[k]), radii, kinds[k]
            )
            for k, d in delta.items()
        }
    final = evaluator.losses({k: theta[k] + delta[k] for k in theta})
    return torch.maximum(best, _nan_to_inf(final).to(best))


def perturbation_error(
    model: nn.Module,
    loss: PerturbationLoss,
    betas: Sequence[float] | np.ndarray | torch.Tensor,
    *extra: Any,
    samples: int = 3,
    seed: int = 0,
    norm: str = "inf",
    mode: str = "random",
    adversarial_steps: int = 5,
    relu: str = "raw",
    chunk_size: int | None = None,
    progress: bool = False,
    dtype: torch.dtype | None = None,
    vectorize: bool = True,
) -> PerturbationCurve:
    """Estimate the perturbation error E_m(beta) (paper eq 11) of ``model``.

    Parameters
    ----------
    model:
        ``nn.Module`` mapping ``(batch, T, d_in)`` to ``(batch, T, d_out)`` (a tuple output
        means its first item). Its trainable parameters (raw ``.original`` weights for
        parametrized modules) are perturbed; the module itself is never modified.
    loss:
        The distance and its data, from :func:`mse_loss`, :func:`twe_mse_loss`,
        :func:`sobolev_loss`, :func:`impulse_response_loss` or :func:`custom_loss`.
    betas:
        ``(n_beta,)`` radii: finite, non-negative, sorted ascending (see :func:`paper_betas`).
    samples:
        Random draws per beta > 0 (>= 1).
    seed:
        Seed of the ``torch.Generator`` for the draws (>= 0).
    norm:
        ``"inf"`` (official code, max-abs per tensor) or ``"paper"`` (paper eq 11: spectral
        norm per matrix, including a diagonal W given by its eigenvalues; Euclidean per vector).
    mode:
        ``"random"`` draws, or ``"adversarial"``: projected gradient ascent from them.
    adversarial_steps:
        Ascent steps per draw in adversarial mode (>= 1).
    relu:
        ``"raw"`` (default): a ``relu``-parametrized model is perturbed in its raw weights w,
        so eigenvalues ``-relu(w + delta)`` stay <= 0. ``"official"``: as the official code,
        ``w <- relu(w)`` first and the eigenvalues themselves are perturbed (they can cross 0).
        Other parametrizations are unaffected.
    chunk_size:
        Evaluate at most this many perturbed models per vmapped pass (``None``: all).
    progress:
        Show a tqdm bar over the evaluated chunks.
    dtype:
        Compute dtype (the model is copied and cast); default: the model's parameter dtype.
    vectorize:
        ``True`` (default): one vmapped pass over all perturbed models. ``False``: evaluate
        them one at a time with the module's own forward (same numbers).

    Options after ``betas`` are keyword-only; the former call
    ``perturbation_error(model, inputs, targets, betas)`` raises a ``TypeError`` saying how
    to write it now.

    Returns
    -------
    PerturbationCurve
        ``errors`` ``(n_beta,)`` the non-decreasing estimate, ``sample_errors``
        ``(n_beta, samples)`` the loss of every perturbed model (the unperturbed loss in
        rows with beta = 0), ``meta`` with the settings and the evaluation path
        (``"vmap"`` or ``"loop"``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if extra or isinstance(loss, (torch.Tensor, np.ndarray)):  # the former call style
        raise TypeError(_MIGRATION)
    loss = _check_loss(loss)
    beta_values = _check_betas(betas)
    samples = check_positive_int("samples", samples)
    seed = check_nonnegative_int("seed", seed)
    check_choice("norm", norm, NORMS)
    check_choice("mode", mode, MODES)
    check_choice("relu", relu, RELU_SEMANTICS)
    adversarial_steps = check_positive_int("adversarial_steps", adversarial_steps)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    dtype = _check_dtype(dtype)
    _check_flag("progress", progress)
    _check_flag("vectorize", vectorize)
    trainable_weights(model)  # raises before any work when nothing can be perturbed

    projected = 0
    if relu == "official":
        model, projected = project_relu_eigenvalues(model)
    if dtype is not None and any(p.dtype != dtype for p in model.parameters()):
        model = copy.deepcopy(model).to(dtype)
    params = trainable_weights(model)
    first = next(iter(params.values()))
    dtype, device = first.dtype, first.device
    inputs, targets = loss.bind(dtype, device)

    def output_loss(out: torch.Tensor) -> torch.Tensor:
        return loss.distance(out, targets)

    # Unperturbed model: shape check, then the exact beta = 0 error.
    theta = {name: p.detach() for name, p in params.items()}
    with torch.no_grad():
        out = primary_output(torch.func.functional_call(model, theta, (inputs,)))
        if loss.match_shape and out.shape != targets.shape:
            raise ValueError(
                f"model output shape {tuple(out.shape)} does not match the {loss.name} "
                f"loss's targets {tuple(targets.shape)}"
            )
        unperturbed = float(_nan_to_inf(output_loss(out)))

    positive = np.flatnonzero(beta_values > 0)
    sample_errors = np.full((beta_values.size, samples), unperturbed)
    evaluation = "none"
    if positive.size:
        radii = torch.as_tensor(np.repeat(beta_values[positive], samples))  # beta-major
        generator = torch.Generator().manual_seed(seed)
        diagonal = diagonal_weight_names(model)
        shapes = {name: p.shape for name, p in theta.items()}
        kinds = {name: block_norm(norm, shape, name in diagonal) for name, shape in shapes.items()}
        noise = draw_noise(shapes, kinds, radii, generator)
        delta = {name: noise[name].to(device=device, dtype=dtype) for name in theta}
        stacked_theta = {name: value.unsqueeze(0) for name, value in theta.items()}
        passes = 1 if mode == "random" else adversarial_steps + 1
        n_models = radii.shape[0]
        n_chunks = 1 if chunk_size is None else -(-n_models // chunk_size)
        with tqdm(total=passes * n_chunks, disable=not progress, desc="perturbation") as bar:
            evaluator = ModelBatchEvaluator(
                model,
                inputs,
                output_loss,
                chunk_size,
                on_chunk=lambda: bar.update(1),
                vectorize=vectorize,
            )
            if mode == "random":
                losses = evaluator.losses({k: stacked_theta[k] + delta[k] for k in theta})
            else:
                losses = _adversarial_losses(
                    evaluator,
                    stacked_theta,
                    delta,
                    radii.to(device=device, dtype=dtype),
                    kinds,
                    adversarial_steps,
                )
        evaluation = "vmap" if evaluator.use_vmap else "loop"
        values = _nan_to_inf(losses.detach().to("cpu", torch.float64)).numpy()
        sample_errors[positive] = values.reshape(positive.size, samples)

    # Running max over samples, smaller betas and the centre of the ball (official protocol).
    errors = np.maximum.accumulate(np.maximum(sample_errors.max(axis=1), unperturbed))
    hidden = getattr(model, "hidden_size", None)
    return PerturbationCurve(
        betas=beta_values,
        errors=errors,
        sample_errors=sample_errors,
        width=hidden if isinstance(hidden, int) else None,
        meta={
            "norm": norm,
            "loss": loss.name,
            "loss_settings": loss.settings,
            "mode": mode,
            "samples": samples,
            "seed": seed,
            "adversarial_steps": adversarial_steps if mode == "adversarial" else None,
            "relu": relu,
            "relu_maps_projected": projected,
            "evaluation": evaluation,
            "unperturbed_error": unperturbed,
            "dtype": str(dtype).replace("torch.", ""),
        },
    )
