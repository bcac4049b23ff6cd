"""Perturbation error E_m(beta) of a trained model (SPEC eq 11, protocol of SPEC 7.4).

    E_m(beta) = sup_{|theta~ - theta|_2 <= beta} || H - H_hat(.; theta~) ||      (SPEC eq 11)

is estimated from below by evaluating perturbed copies of the model:

* **What is perturbed.** The trainable raw weights, ``[p for p in model.parameters()
  if p.requires_grad]``. For ``torch.nn.utils.parametrize`` modules these are the
  ``.original`` tensors, so a stable reparameterisation stays stable (DESIGN).
* **Norm.** ``norm="inf"``: every tensor's noise has max-abs exactly beta (official
  code, SPEC 7.4). ``norm="paper"``: every tensor's noise has 2-norm exactly beta
  (spectral norm for matrices, Euclidean for vectors, SPEC eq 11). In both cases the
  random draws lie on the boundary of the ball (product of per-tensor spheres).
* **Random draws.** ``samples`` Gaussian directions per beta > 0, drawn from one
  ``torch.Generator`` seeded with ``seed`` (order: beta, sample; each model's draw is
  one ``randn`` of all entries split in parameter order; see
  :func:`curse_of_memory.analysis._perturb_noise.draw_noise`). Unlike the official
  code, which reuses the same ``samples`` directions at every beta, directions are
  drawn independently for every (beta, sample). beta = 0 draws nothing and gives
  exactly the unperturbed error.
* **Adversarial refinement** (``mode="adversarial"``): from each random draw, a few
  steps of projected gradient ascent on the raw weights inside the ball (sign of the
  gradient for the inf-norm, normalised gradient / polar factor for the 2-norms; step
  ``2 beta / (i + 1)`` at iteration ``i``: a jump across the ball, then refinement),
  keeping the largest loss seen. Since every iterate
  lies in the ball, this is still a lower bound on the sup, and never below the
  random estimate with the same seed.
* **Monotone estimate.** The reported ``errors`` are a running maximum over the
  samples, over all smaller betas and over the unperturbed model (which lies in
  every ball), hence non-decreasing in beta (SPEC 7.4). A perturbed model whose loss
  is NaN (overflow) is recorded as ``+inf``.
* **One batched pass.** All perturbed parameter sets are stacked along a leading
  model axis and evaluated with ``torch.vmap(functional_call)`` (``chunk_size`` models
  at a time). ``nn.RNN``/``GRU``/``LSTM`` submodules run a plain-torch forward under
  vmap; a model vmap cannot handle is evaluated in a loop, with a ``RuntimeWarning``.
  ``vectorize=False`` asks for that loop directly (same numbers; on CPU with large data
  batches it can be the faster path, since each model's forward is already batched).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_sequence_tensor,
)
from curse_of_memory.analysis._perturb_eval import ModelBatchEvaluator, first_output
from curse_of_memory.analysis._perturb_losses import (
    LOSSES,
    heaviside_inputs,
    make_output_loss,
    sign_vectors,
    target_outputs,
)
from curse_of_memory.analysis._perturb_noise import (
    NORMS,
    ascent_direction,
    draw_noise,
    expand_radii,
    project,
)
from curse_of_memory.analysis.curves import PerturbationCurve

MODES = ("random", "adversarial")

PAPER_BETA_KINDS = ("linear", "nonlinear", "official")


def paper_betas(kind: str) -> np.ndarray:
    """The perturbation radii used in the paper and the official code (SPEC 7.1, 7.2, 7.4).

    Parameters
    ----------
    kind:
        ``"linear"``: 0 and ``5e-4 * 2^k``, k = 0..20 (22 values, SPEC 7.1).
        ``"nonlinear"``: 0 and ``1e-11 * 2^k``, k = 0..35 (37 values, SPEC 7.2).
        ``"official"``: 0 and ``1e-3 * 2^(k/2)``, k = 0..20 (22 values, SPEC 7.4).

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


def _check_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    return dtype


def _loss_name(loss: Any) -> str:
    if callable(loss):
        return getattr(loss, "__name__", "callable")
    return check_choice("loss", loss, LOSSES)


def _prepare_data(
    loss: Any,
    inputs: Any,
    targets: Any,
    length: Any,
    dt: Any,
    heaviside_values: Any,
) -> tuple[torch.Tensor, Any, dict]:
    """Validate the loss-specific arguments; returns (model inputs, reference, sobolev info)."""
    if loss != "sobolev":
        for name, value in (("length", length), ("dt", dt), ("heaviside_values", heaviside_values)):
            if value is not None:
                raise ValueError(f"{name} is only used with loss='sobolev', got {name}={value!r}")
        inputs = check_sequence_tensor("inputs", inputs)
        if loss == "mse":
            targets = check_sequence_tensor("targets", targets)
            if targets.shape[:2] != inputs.shape[:2]:
                raise ValueError(
                    "targets must have the same (batch, time) as inputs: "
                    f"got {tuple(targets.shape)} and {tuple(inputs.shape)}"
                )
        return inputs, targets, {}
    # SPEC eq 13 on Heaviside inputs: ``targets`` is the target functional.
    if inputs is not None:
        raise ValueError(
            "inputs must be None with loss='sobolev' (Heaviside inputs are built from "
            "heaviside_values, length and dt)"
        )
    if not callable(targets):
        raise TypeError(
            "with loss='sobolev', targets must be the target functional (a LinearFunctional or "
            f"a callable x -> outputs), got {type(targets).__name__}"
        )
    if length is None or dt is None:
        raise ValueError("loss='sobolev' needs length (number of time steps) and dt")
    length = check_positive_int("length", length)
    dt = check_positive_float("dt", dt)
    if heaviside_values is None:
        input_dim = getattr(targets, "input_dim", None)
        if input_dim is None:
            raise ValueError(
                "heaviside_values is required when the target has no input_dim attribute"
            )
        heaviside_values = sign_vectors(check_positive_int("targets.input_dim", input_dim))
    values = torch.as_tensor(heaviside_values, dtype=torch.float64)
    if values.dim() != 2 or values.shape[0] == 0:
        raise ValueError(
            f"heaviside_values must have shape (n_values, input_dim), got {tuple(values.shape)}"
        )
    norms = values.abs().amax(dim=1)
    if not bool(torch.isfinite(values).all()) or bool((norms == 0).any()):
        raise ValueError("heaviside_values must be finite and non-zero (the sup is over x != 0)")
    u = heaviside_inputs(values, length)  # (n_x, T, d)
    return u, targets, {"value_norms": norms, "dt": dt, "length": length}


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True) to perturb")
    return params


def _nan_to_inf(values: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isnan(values), torch.full_like(values, math.inf), values)


def _adversarial_losses(
    evaluator: ModelBatchEvaluator,
    theta: dict[str, torch.Tensor],
    delta: dict[str, torch.Tensor],
    radii: torch.Tensor,
    norm: str,
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
            k: project(d + expand_radii(step, d) * ascent_direction(grads[k], norm), radii, norm)
            for k, d in delta.items()
        }
    final = evaluator.losses({k: theta[k] + delta[k] for k in theta})
    return torch.maximum(best, _nan_to_inf(final).to(best))


def perturbation_error(
    model: nn.Module,
    inputs: torch.Tensor | None,
    targets: Any,
    betas: Sequence[float] | np.ndarray | torch.Tensor,
    samples: int = 3,
    seed: int = 0,
    norm: str = "inf",
    loss: str | Callable[[torch.Tensor, Any], torch.Tensor] = "mse",
    mode: str = "random",
    adversarial_steps: int = 5,
    chunk_size: int | None = None,
    progress: bool = False,
    dtype: torch.dtype | None = None,
    *,
    length: int | None = None,
    dt: float | None = None,
    heaviside_values: torch.Tensor | None = None,
    vectorize: bool = True,
) -> PerturbationCurve:
    """Estimate the perturbation error E_m(beta) (SPEC eq 11) of ``model``.

    Parameters
    ----------
    model:
        ``nn.Module`` mapping ``(batch, T, d_in)`` to ``(batch, T, d_out)`` (a tuple output
        means its first item). Its trainable parameters (raw ``.original`` weights for
        parametrized modules) are perturbed; the module itself is never modified.
    inputs:
        ``(batch, T, d_in)`` evaluation inputs. Must be ``None`` for ``loss="sobolev"``.
    targets:
        ``"mse"``: ``(batch, T, d_out)`` reference outputs. Callable loss: passed as the
        loss's second argument. ``"sobolev"``: the target functional, a
        :class:`~curse_of_memory.targets.LinearFunctional` (called ``targets(x, dt)``)
        or a callable ``x -> (n_x, T, d_out)``.
    betas:
        ``(n_beta,)`` radii: finite, non-negative, sorted ascending (see :func:`paper_betas`).
    samples:
        Random draws per beta > 0 (>= 1).
    seed:
        Seed of the ``torch.Generator`` for the draws (>= 0).
    norm:
        ``"inf"`` (official code, max-abs per tensor) or ``"paper"`` (SPEC eq 11: spectral
        norm per matrix, Euclidean norm per vector).
    loss:
        ``"mse"`` (mean over all outputs), ``"sobolev"`` (SPEC eq 13 on Heaviside inputs, see
        :mod:`curse_of_memory.analysis._perturb_losses`) or ``loss(pred, targets) -> scalar``
        (vmappable for the batched path).
    mode:
        ``"random"`` draws, or ``"adversarial"``: projected gradient ascent from them.
    adversarial_steps:
        Ascent steps per draw in adversarial mode (>= 1).
    chunk_size:
        Evaluate at most this many perturbed models per vmapped pass (``None``: all).
    progress:
        Show a tqdm bar over the evaluated chunks.
    dtype:
        Compute dtype (the model is copied and cast); default: the model's parameter dtype.
    length, dt:
        ``loss="sobolev"`` only: number of time steps and step size of the Heaviside inputs.
    heaviside_values:
        ``loss="sobolev"`` only: ``(n_x, d_in)`` step heights x (non-zero); default: all
        sign vectors ``{-1, +1}^d`` with ``d = targets.input_dim``.
    vectorize:
        ``True`` (default): one vmapped pass over all perturbed models. ``False``: evaluate
        them one at a time with the module's own forward (same numbers; on CPU with large
        data batches this can be faster, since each model's forward is already batched).

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
    beta_values = _check_betas(betas)
    samples = check_positive_int("samples", samples)
    seed = check_nonnegative_int("seed", seed)
    check_choice("norm", norm, NORMS)
    check_choice("mode", mode, MODES)
    loss_name = _loss_name(loss)
    adversarial_steps = check_positive_int("adversarial_steps", adversarial_steps)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    dtype = _check_dtype(dtype)
    for flag_name, flag in (("progress", progress), ("vectorize", vectorize)):
        if not isinstance(flag, bool):
            raise TypeError(f"{flag_name} must be True or False, got {flag!r}")
    model_inputs, reference, sobolev = _prepare_data(
        loss, inputs, targets, length, dt, heaviside_values
    )
    params = _trainable(model)

    if dtype is not None and any(p.dtype != dtype for p in model.parameters()):
        model = copy.deepcopy(model).to(dtype)
        params = _trainable(model)
    first = next(iter(params.values()))
    dtype, device = first.dtype, first.device
    model_inputs = model_inputs.to(device=device, dtype=dtype)
    if loss == "sobolev":
        reference = target_outputs(reference, model_inputs, sobolev["dt"])
        sobolev["value_norms"] = sobolev["value_norms"].to(device=device, dtype=dtype)
    elif isinstance(reference, torch.Tensor):
        reference = reference.detach().to(device=device, dtype=dtype)
    output_loss = make_output_loss(loss, reference, **sobolev)

    # Unperturbed model: shape check, then the exact beta = 0 error.
    theta = {name: p.detach() for name, p in params.items()}
    with torch.no_grad():
        out = first_output(torch.func.functional_call(model, theta, (model_inputs,)))
        if loss in ("mse", "sobolev") and out.shape != reference.shape:
            raise ValueError(
                f"model output shape {tuple(out.shape)} does not match the reference "
                f"{'targets' if loss == 'mse' else 'target outputs'} {tuple(reference.shape)}"
            )
        unperturbed = float(_nan_to_inf(output_loss(out)))

    positive = np.flatnonzero(beta_values > 0)
    sample_errors = np.full((beta_values.size, samples), unperturbed)
    evaluation = "none"
    if positive.size:
        radii = torch.as_tensor(np.repeat(beta_values[positive], samples))  # beta-major
        generator = torch.Generator().manual_seed(seed)
        shapes = {name: p.shape for name, p in theta.items()}
        noise = draw_noise(shapes, radii, norm, generator)
        delta = {name: noise[name].to(device=device, dtype=dtype) for name in theta}
        stacked_theta = {name: value.unsqueeze(0) for name, value in theta.items()}
        passes = 1 if mode == "random" else adversarial_steps + 1
        n_models = radii.shape[0]
        n_chunks = 1 if chunk_size is None else -(-n_models // chunk_size)
        with tqdm(total=passes * n_chunks, disable=not progress, desc="perturbation") as bar:
            evaluator = ModelBatchEvaluator(
                model,
                model_inputs,
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
                    norm,
                    adversarial_steps,
                )
        evaluation = "vmap" if evaluator.use_vmap else "loop"
        values = _nan_to_inf(losses.detach().to("cpu", torch.float64)).numpy()
        sample_errors[positive] = values.reshape(positive.size, samples)

    # Running max over samples, smaller betas and the centre of the ball (SPEC 7.4).
    errors = np.maximum.accumulate(np.maximum(sample_errors.max(axis=1), unperturbed))
    hidden = getattr(model, "hidden_size", None)
    return PerturbationCurve(
        betas=beta_values,
        errors=errors,
        sample_errors=sample_errors,
        width=hidden if isinstance(hidden, int) else None,
        meta={
            "norm": norm,
            "loss": loss_name,
            "mode": mode,
            "samples": samples,
            "seed": seed,
            "adversarial_steps": adversarial_steps if mode == "adversarial" else None,
            "evaluation": evaluation,
            "unperturbed_error": unperturbed,
            "dtype": str(dtype).replace("torch.", ""),
        },
    )


__all__ = ["MODES", "PAPER_BETA_KINDS", "paper_betas", "perturbation_error"]
