"""The fit loop: mini-batch training with checkpoints, resume and divergence handling.

``train(model, dataset, ...)`` trains any ``torch.nn.Module`` that maps
``(batch, T, d_in)`` to ``(batch, T, d_out)`` (a tuple output means its first item)
and returns a ``TrainResult``. Settings come from a preset (``TRAINING_PRESETS``:
"paper", from paper Appendix D, or "official", from the official code) and explicit
keyword arguments override them.

Interrupts (Ctrl-C, or a callback raising ``KeyboardInterrupt``): the model is put
back to the end of the last completed epoch, a checkpoint of that state is written
when ``checkpoint_path`` is set, and the ``KeyboardInterrupt`` is re-raised, so the
caller stops; ``train(..., resume=True)`` later continues from there.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from curse_of_memory._validation import (
    check_nonnegative_int,
    check_positive_int,
    check_sequence_tensor,
    primary_output,
)
from curse_of_memory.training.checkpoint import (
    capture_state,
    load_checkpoint,
    restore_state,
    save_checkpoint,
)
from curse_of_memory.training.config import (
    PLATEAU_FACTOR,
    PLATEAU_PATIENCE,
    TrainConfig,
    resolve_config,
)
from curse_of_memory.training.losses import LOSSES, stability_margin_of
from curse_of_memory.training.losses import stability_penalty as _stability_penalty

Pair = tuple[torch.Tensor, torch.Tensor]
EpochCallback = Callable[[int, "TrainResult"], None]

# Settings that may differ between a checkpoint and the run resuming it.
_RESUMABLE_CHANGES = ("epochs",)


@dataclass
class TrainResult:
    """What a training run did, epoch by epoch (including epochs from a resumed checkpoint).

    ``train_losses`` are data losses (without the stability penalty), averaged over the
    epoch's mini-batches; ``val_losses`` are computed on the whole validation set after
    each epoch with the same loss; ``lrs`` is the learning rate used in each epoch.
    ``best_epoch`` is the epoch whose weights the model ends with when ``keep_best`` is
    set (``None`` otherwise).
    """

    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    best_val_loss: float = math.inf
    best_epoch: int | None = None
    epochs_run: int = 0
    diverged: bool = False
    stopped_early: bool = False
    message: str = ""
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


def train(
    model: torch.nn.Module,
    dataset: Any,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    *,
    optimizer: str | None = None,
    weight_decay: float | None = None,
    loss: str | None = None,
    grad_clip: float | None = None,
    scheduler: str | None = None,
    stop_at_val_loss: float | None = None,
    stability_penalty: float | None = None,
    keep_best: bool | None = None,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 10,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
    preset: str | None = None,
    callback: EpochCallback | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``dataset`` and report the run.

    Parameters
    ----------
    model:
        ``nn.Module`` with trainable parameters, ``(batch, T, d_in) -> (batch, T, d_out)``.
        Inputs and outputs are cast to the dtype of its first floating parameter.
    dataset:
        An object with ``.train`` and ``.val`` attributes, or a tuple
        ``((x_train, y_train), (x_val, y_val))``; ``x`` is ``(n, T, d_in)``, ``y`` is
        ``(n, T, d_out)``.
    epochs, lr, batch_size, optimizer ("adam" | "adamw"), weight_decay,
    loss ("mse" | "time_weighted_mse"), grad_clip (max gradient 2-norm),
    scheduler ("none" | "plateau"), stop_at_val_loss, stability_penalty, keep_best:
        Override the preset; ``None`` keeps the preset's (or ``TrainConfig``'s default)
        value. ``grad_clip=0``, ``scheduler="none"``, ``stop_at_val_loss=0`` switch off.
        ``stability_penalty > 0`` adds ``coef * relu(1 - model.stability_margin())`` to
        the training loss (official code) and needs that method.
        ``keep_best=True``: the model ends with the weights of the epoch with the lowest
        validation loss (kept in the checkpoints too, so a resumed run ends the same).
    seed:
        Seeds the generator that shuffles mini-batches (model initialisation is the
        caller's business).
    checkpoint_path, checkpoint_every:
        Write a checkpoint every ``checkpoint_every`` epochs, at the end and on an
        interrupt (atomically). A write the filesystem refuses (full, read-only) issues
        a ``RuntimeWarning`` and training continues; the model keeps its weights.
    resume:
        Continue from ``checkpoint_path`` if that file exists (otherwise start afresh,
        with a warning). On CPU the result is bit-identical to an uninterrupted run.
    progress:
        Show a tqdm bar with the losses; ``False`` for scripts and tests.
    device:
        Where to train (the model is moved there); default: the model's device.
    preset:
        ``None``, "paper" or "official" (see ``TRAINING_PRESETS``).
    callback:
        ``callback(epoch, result)`` after each completed epoch (1-based), e.g. to log.

    Returns
    -------
    TrainResult. A non-finite loss stops the run: the weights after the last finite
    epoch are restored, ``diverged`` is True, ``message`` says what happened and a
    ``RuntimeWarning`` is issued.
    """
    config = resolve_config(
        preset,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        optimizer=optimizer,
        weight_decay=weight_decay,
        loss=loss,
        grad_clip=grad_clip,
        scheduler=scheduler,
        stop_at_val_loss=stop_at_val_loss,
        stability_penalty=stability_penalty,
        keep_best=keep_best,
    )
    _check_model(model, config)
    seed = check_nonnegative_int("seed", seed)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path (the checkpoint to continue from)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(epoch, result), got {type(callback).__name__}")
    if device is not None:
        model.to(device)
    dtype, model_device = _model_dtype_device(model)
    train_pair, val_pair = _unpack_dataset(dataset, dtype, model_device)

    run = _Run(model, config, seed, train_pair, val_pair)
    # What a checkpoint must match to be resumed: settings, seed, model and data.
    run_config = {
        **config.to_dict(),
        "seed": seed,
        "model_config": model.config() if callable(getattr(model, "config", None)) else None,
        "data_fingerprint": _fingerprint(train_pair, val_pair),
    }
    start = time.perf_counter()
    if resume:
        _resume(run, Path(checkpoint_path), run_config)
    snapshot = run.capture(run_config)

    bar = tqdm(
        total=config.epochs,
        initial=run.epoch,
        desc="train",
        unit="epoch",
        disable=not progress,
        leave=False,
    )
    try:
        while run.epoch < config.epochs and not run.result.stopped_early:
            if not run.one_epoch():
                run.restore_weights(snapshot)
                break
            snapshot = run.capture(run_config)
            done = run.result.stopped_early or run.epoch == config.epochs
            if checkpoint_path is not None and (run.epoch % checkpoint_every == 0 or done):
                _save_checkpoint_or_warn(snapshot, checkpoint_path)
            bar.set_postfix(
                train=f"{run.result.train_losses[-1]:.3e}",
                val=f"{run.result.val_losses[-1]:.3e}",
                lr=f"{run.result.lrs[-1]:.1e}",
                refresh=False,
            )
            bar.update(1)
            if callback is not None:
                callback(run.epoch, run.result)
    except KeyboardInterrupt:
        # Back to the end of the last completed epoch, saved so that resume=True continues.
        run.restore(snapshot)
        if checkpoint_path is not None:
            _save_checkpoint_or_warn(snapshot, checkpoint_path)
        raise
    finally:
        bar.close()

    result = run.result
    if config.keep_best and run.best is not None:
        model.load_state_dict(run.best["model_state"])
        result.best_epoch = int(run.best["epoch"])
    result.seconds = time.perf_counter() - start
    result.config = {**config.to_dict(), "seed": seed}
    result.epochs_run = run.epoch
    result.best_val_loss = min(result.val_losses, default=math.inf)
    if not result.message:
        result.message = _summary(result, config)
    if result.diverged:
        warnings.warn(result.message, RuntimeWarning, stacklevel=2)
    return result


class _Run:
    """The live objects of one run: model, optimizer, scheduler, shuffling, history."""

    def __init__(
        self, model: torch.nn.Module, config: TrainConfig, seed: int, train: Pair, val: Pair
    ) -> None:
        self.model = model
        self.config = config
        self.train_pair = train
        self.val_pair = val
        self.loss_fn = LOSSES[config.loss]
        self.optimizer = _make_optimizer(model, config)
        self.scheduler = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
            )
            if config.scheduler == "plateau"
            else None
        )
        self.shuffle = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.result = TrainResult()
        self.best: dict[str, Any] | None = None  # lowest validation loss so far (keep_best)

    # -- state ---------------------------------------------------------------------------
    def capture(self, run_config: dict[str, Any]) -> dict[str, Any]:
        history = {
            "train_losses": self.result.train_losses,
            "val_losses": self.result.val_losses,
            "lrs": self.result.lrs,
        }
        return capture_state(
            self.epoch,
            run_config,
            self.model,
            self.optimizer,
            self.scheduler,
            self.shuffle,
            history,
            self.result.stopped_early,
            self.best,
        )

    def restore(self, state: dict[str, Any]) -> None:
        restore_state(state, self.model, self.optimizer, self.scheduler, self.shuffle)
        self.epoch = int(state["epoch"])
        history = state["history"]
        self.result.train_losses = [float(v) for v in history["train_losses"]]
        self.result.val_losses = [float(v) for v in history["val_losses"]]
        self.result.lrs = [float(v) for v in history["lrs"]]
        self.result.stopped_early = bool(state["stopped_early"])
        self.best = state.get("best")

    def restore_weights(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model_state"])

    # -- one epoch -----------------------------------------------------------------------
    def one_epoch(self) -> bool:
        """Train one epoch and validate; False (and a diverged result) on a non-finite loss."""
        epoch = self.epoch + 1
        lr = float(self.optimizer.param_groups[0]["lr"])
        train_loss = self._train_epoch()
        if not math.isfinite(train_loss):
            self._diverged(epoch, "training loss or gradient")
            return False
        val_loss = evaluate_loss(self.model, self.val_pair, self.loss_fn, self.config.batch_size)
        if not math.isfinite(val_loss):
            self._diverged(epoch, "validation loss")
            return False
        if self.scheduler is not None:
            self.scheduler.step(val_loss)
        self.epoch = epoch
        self.result.train_losses.append(train_loss)
        self.result.val_losses.append(val_loss)
        self.result.lrs.append(lr)
        if self.config.keep_best and (self.best is None or val_loss < self.best["val_loss"]):
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best = {"epoch": epoch, "val_loss": val_loss, "model_state": state}
        if 0 < self.config.stop_at_val_loss and val_loss <= self.config.stop_at_val_loss:
            self.result.stopped_early = True
        return True

    def _train_epoch(self) -> float:
        """Mean (over samples) mini-batch data loss of one pass; ``nan`` on divergence."""
        x, y = self.train_pair
        n = x.shape[0]
        order = torch.randperm(n, generator=self.shuffle).to(x.device)
        total = 0.0
        self.model.train()
        for start in range(0, n, self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            data_loss = self.loss_fn(_forward(self.model, x[idx]), y[idx])
            if not torch.isfinite(data_loss):
                return math.nan
            objective = data_loss
            if self.config.stability_penalty > 0:  # as in the official code
                objective = objective + self.config.stability_penalty * _stability_penalty(
                    self.model
                )
            self.optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if not self._gradients_finite():
                return math.nan
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            total += float(data_loss.detach()) * idx.numel()
        return total / n

    def _gradients_finite(self) -> bool:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True

    def _diverged(self, epoch: int, which: str) -> None:
        self.result.diverged = True
        self.result.message = (
            f"training diverged: non-finite {which} in epoch {epoch}; stopped and restored "
            f"the weights after epoch {self.epoch}"
            + (" (the initial weights)" if self.epoch == 0 else "")
            + "; try a smaller lr or grad_clip"
        )


def evaluate_loss(
    model: torch.nn.Module,
    pair: Pair,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 1024,
) -> float:
    """Loss of ``model`` on ``(x, y)``, in mini-batches without gradients.

    The per-batch losses are means, so they are combined weighted by batch size.
    """
    x, y = pair
    total = 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            total += float(loss_fn(_forward(model, xb), yb)) * xb.shape[0]
    model.train(was_training)
    return total / x.shape[0]


# -- helpers ----------------------------------------------------------------------------------
def _forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return primary_output(model(x))


def _make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _check_model(model: Any, config: TrainConfig) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    if not any(p.is_floating_point() for p in model.parameters()):
        raise TypeError("model must have floating-point parameters")
    if config.stability_penalty > 0:
        if not callable(getattr(model, "stability_margin", None)):
            raise TypeError(
                f"stability_penalty={config.stability_penalty} needs a model with a "
                f"stability_margin() method ({type(model).__name__} has none); pass "
                "stability_penalty=0"
            )
        margin = stability_margin_of(model)
        if not (isinstance(margin, torch.Tensor) and margin.requires_grad):
            warnings.warn(
                f"{type(model).__name__}.stability_margin() is not differentiable (it returns "
                f"{type(margin).__name__} without gradient), so stability_penalty="
                f"{config.stability_penalty} cannot steer training; it is added to the loss "
                "as a constant",
                RuntimeWarning,
                stacklevel=3,
            )


def _model_dtype_device(model: torch.nn.Module) -> tuple[torch.dtype, torch.device]:
    param = next(p for p in model.parameters() if p.is_floating_point())
    return param.dtype, param.device


def _unpack_dataset(dataset: Any, dtype: torch.dtype, device: torch.device) -> tuple[Pair, Pair]:
    """``(train, val)`` pairs from a SequenceDataset-like object or a tuple of pairs."""
    if hasattr(dataset, "train") and hasattr(dataset, "val"):
        train_pair, val_pair = dataset.train, dataset.val
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        train_pair, val_pair = dataset
    else:
        raise TypeError(
            "dataset must have .train and .val (x, y) pairs, or be a tuple "
            f"((x_train, y_train), (x_val, y_val)); got {type(dataset).__name__}"
        )
    return (
        _check_pair("train", train_pair, dtype, device),
        _check_pair("val", val_pair, dtype, device),
    )


def _check_pair(name: str, pair: Any, dtype: torch.dtype, device: torch.device) -> Pair:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"dataset {name} split must be an (inputs, outputs) pair")
    x = check_sequence_tensor(f"{name} inputs", pair[0])
    y = check_sequence_tensor(f"{name} outputs", pair[1])
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(
            f"{name} inputs {tuple(x.shape)} and outputs {tuple(y.shape)} must agree on "
            "(samples, time)"
        )
    if x.shape[0] == 0:
        raise ValueError(f"dataset {name} split is empty")
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _fingerprint(train_pair: Pair, val_pair: Pair) -> list:
    """Shapes and rounded float64 sums of the data: enough to notice resuming on other data."""
    out: list = []
    for tensor in (*train_pair, *val_pair):
        out += [list(tensor.shape), f"{float(tensor.double().sum()):.9e}"]
    return out


def _save_checkpoint_or_warn(state: dict[str, Any], path: str | Path) -> None:
    """Write a checkpoint; a filesystem failure warns instead of ending the run.

    The trained weights stay in memory (the model is trained in place), so a full or
    read-only disk costs the checkpoint, never the training.
    """
    try:
        save_checkpoint(state, path)
    except OSError as err:
        warnings.warn(
            f"checkpoint of epoch {state['epoch']} not written ({err}); the model keeps "
            "its weights in memory",
            RuntimeWarning,
            stacklevel=3,
        )


def _resume(run: _Run, path: Path, run_config: dict[str, Any]) -> None:
    if not path.exists():
        warnings.warn(
            f"resume=True but checkpoint {str(path)!r} does not exist yet; starting afresh",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    state = load_checkpoint(path)
    saved = state["config"]
    changed = sorted(
        k
        for k in set(saved) | set(run_config)
        if k not in _RESUMABLE_CHANGES and saved.get(k) != run_config.get(k)
    )
    if changed:
        details = "; ".join(_describe_change(k, saved.get(k), run_config.get(k)) for k in changed)
        raise ValueError(
            f"cannot resume from {str(path)!r}: settings differ from the checkpoint ({details})"
        )
    run.restore(state)


def _describe_change(key: str, saved: Any, now: Any) -> str:
    if key == "data_fingerprint":
        return "data: not the dataset the checkpoint was trained on"
    if key == "model_config" and isinstance(saved, dict) and isinstance(now, dict):
        keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        return "model " + ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys)
    return f"{key}: {saved!r} -> {now!r}"


def _summary(result: TrainResult, config: TrainConfig) -> str:
    if not result.val_losses:
        return "no epoch was run"
    text = (
        f"{result.epochs_run} epochs, final train loss {result.train_losses[-1]:.3e}, "
        f"val loss {result.val_losses[-1]:.3e} (best {result.best_val_loss:.3e})"
    )
    if result.stopped_early:
        text += f"; stopped early: val loss <= {config.stop_at_val_loss:g}"
    return text
