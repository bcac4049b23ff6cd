"""Training loop for sequence classifiers: cross-entropy, accuracy, curves against steps.

``train_classifier(model, data, ...)`` trains a module mapping ``(batch, T, d)`` to
logits ``(batch, n_classes)`` on the train split of a
:class:`~curse_of_memory.data.SequenceClassificationData` with AdamW and a cosine
learning-rate schedule (the paper's sequential-MNIST settings: lr 0.01, weight decay
0.01, batch 128, 10 epochs). It records, at evenly spaced steps, the mean training
loss and accuracy of the mini-batches since the previous record and the loss and
accuracy on the whole validation split; at the end it evaluates the test split.

Checkpoints (atomic, at the end of every epoch and on Ctrl-C) hold everything needed
to continue bit for bit with ``resume=True``. A non-finite loss or gradient stops the
run: the weights of the last completed epoch are restored, ``diverged`` is set and the
test split is evaluated on those weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from curse_of_memory._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from curse_of_memory.training.checkpoint import (
    capture_state,
    load_checkpoint,
    restore_state,
    save_checkpoint,
)
from curse_of_memory.training.loop import _fingerprint

SCHEDULES = ("cosine", "constant")
_CURVES = ("steps", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class ClassifierTraining:
    """Settings of a classifier training run (defaults: the paper's sequential MNIST).

    ``schedule="cosine"`` anneals the learning rate from ``lr`` to 0 over all steps;
    ``eval_points`` is the number of evenly spaced records of the curves;
    ``grad_clip = 0`` switches clipping of the gradient 2-norm off.
    """

    epochs: int = 10
    lr: float = 0.01
    batch_size: int = 128
    weight_decay: float = 0.01
    schedule: str = "cosine"
    eval_points: int = 25
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_float("lr", self.lr)
        check_positive_int("batch_size", self.batch_size)
        if self.weight_decay < 0 or not math.isfinite(self.weight_decay):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        check_choice("schedule", self.schedule, SCHEDULES)
        check_positive_int("eval_points", self.eval_points)
        if self.grad_clip < 0 or not math.isfinite(self.grad_clip):
            raise ValueError(f"grad_clip must be a finite number >= 0, got {self.grad_clip}")


@dataclass
class ClassificationHistory:
    """What a classifier training run did.

    Curves (one entry per record): ``steps`` (optimizer steps done), ``train_loss`` and
    ``train_accuracy`` (means over the mini-batches since the previous record),
    ``val_loss`` and ``val_accuracy`` (whole validation split). ``test_loss`` and
    ``test_accuracy`` are measured once, after training. Accuracies are fractions.
    ``seconds`` is the wall time of this call (after a resume: of the resumed part).
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    test_loss: float = math.nan
    test_accuracy: float = math.nan
    epochs_run: int = 0
    total_steps: int = 0
    diverged: bool = False
    message: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers become ``None``)."""
        out = asdict(self)
        for key in ("test_loss", "test_accuracy"):
            out[key] = out[key] if math.isfinite(out[key]) else None
        return out


def evaluate_classifier(
    model: torch.nn.Module, split: tuple[torch.Tensor, torch.Tensor], batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x (n, T, d), labels (n,))``."""
    x, labels = split
    total_loss, correct = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size])
            target = labels[start : start + batch_size]
            total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    model.train(was_training)
    return total_loss / x.shape[0], correct / x.shape[0]


def train_classifier(
    model: torch.nn.Module,
    data: Any,
    settings: ClassifierTraining | None = None,
    *,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> ClassificationHistory:
    """Train ``model`` in place on ``data.train``; curves on ``data.val``, final ``data.test``.

    Parameters
    ----------
    model: ``(batch, T, d) -> (batch, n_classes)`` logits; its dtype sets the data's.
    data: has ``train``, ``val``, ``test`` pairs ``(x (n, T, d), labels (n,))``, e.g. a
        :class:`~curse_of_memory.data.SequenceClassificationData`.
    settings: :class:`ClassifierTraining` (default: the paper's settings).
    seed: seeds the generator that orders the mini-batches (initialise the model yourself).
    checkpoint_path: checkpoint file, written at the end of every epoch and on Ctrl-C.
    resume: continue from ``checkpoint_path`` when it exists (same settings and data).
    progress: show a tqdm bar over the steps.
    """
    settings = ClassifierTraining() if settings is None else settings
    if not isinstance(settings, ClassifierTraining):
        raise TypeError(f"settings must be a ClassifierTraining, got {type(settings).__name__}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = check_nonnegative_int("seed", seed)
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs checkpoint_path (the checkpoint to continue from)")
    splits = _checked_splits(data, next(model.parameters()).dtype)
    run = _ClassifierRun(model, settings, seed, splits)
    run_config = {
        **asdict(settings),
        "seed": seed,
        "model_config": model.config() if callable(getattr(model, "config", None)) else None,
        "data_fingerprint": _fingerprint(splits["train"], splits["val"]),
    }
    start = time.perf_counter()
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        run.restore(_matching_checkpoint(Path(checkpoint_path), run_config))
    snapshot = run.capture(run_config)
    bar = tqdm(
        total=run.total_steps, initial=run.step, desc="train", unit="step",
        disable=not progress, leave=False,
    )  # fmt: skip
    try:
        while run.epoch < settings.epochs:
            if not run.one_epoch(bar):
                run.model.load_state_dict(snapshot["model_state"])
                break
            snapshot = run.capture(run_config)
            if checkpoint_path is not None:
                save_checkpoint(snapshot, checkpoint_path)
    except KeyboardInterrupt:
        run.restore(snapshot)
        if checkpoint_path is not None:
            save_checkpoint(snapshot, checkpoint_path)
        raise
    finally:
        bar.close()
    history = run.history
    history.test_loss, history.test_accuracy = evaluate_classifier(model, splits["test"])
    history.epochs_run, history.total_steps = run.epoch, run.total_steps
    history.seconds = time.perf_counter() - start
    if not history.diverged:
        history.message = (
            f"{run.epoch} epochs ({run.step} steps), test loss {history.test_loss:.4f}, "
            f"test accuracy {100 * history.test_accuracy:.2f}%"
        )
    return history


class _ClassifierRun:
    """Live objects of one run: model, optimizer, schedule, batch order, curves."""

    def __init__(
        self,
        model: torch.nn.Module,
        settings: ClassifierTraining,
        seed: int,
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        self.model, self.settings, self.splits = model, settings, splits
        n_train = splits["train"][1].numel()
        self.steps_per_epoch = math.ceil(n_train / settings.batch_size)
        self.total_steps = settings.epochs * self.steps_per_epoch
        self.record_every = max(1, self.total_steps // settings.eval_points)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=settings.lr, weight_decay=settings.weight_decay
        )
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.total_steps)
            if settings.schedule == "cosine"
            else None
        )
        self.shuffle = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.history = ClassificationHistory()
        self.pending = [0.0, 0.0, 0.0]  # loss sum, correct, samples since the last record

    @property
    def step(self) -> int:
        return self.epoch * self.steps_per_epoch

    def capture(self, run_config: dict[str, Any]) -> dict[str, Any]:
        curves = {name: getattr(self.history, name) for name in _CURVES}
        curves["pending"] = self.pending
        return capture_state(
            self.epoch, run_config, self.model, self.optimizer, self.scheduler, self.shuffle,
            curves,
        )  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        restore_state(state, self.model, self.optimizer, self.scheduler, self.shuffle)
        self.epoch = int(state["epoch"])
        curves = state["history"]
        for name in _CURVES:
            setattr(self.history, name, list(curves[name]))
        self.history.steps = [int(s) for s in self.history.steps]
        self.pending = [float(v) for v in curves["pending"]]

    def one_epoch(self, bar: Any) -> bool:
        """One pass over the training split; False (and ``diverged``) on a non-finite value."""
        x, labels = self.splits["train"]
        order = torch.randperm(labels.numel(), generator=self.shuffle)
        step = self.step
        self.model.train()
        for start in range(0, labels.numel(), self.settings.batch_size):
            batch = order[start : start + self.settings.batch_size]
            logits = self.model(x[batch])
            loss = F.cross_entropy(logits, labels[batch])
            if not torch.isfinite(loss):
                return self._diverged("training loss", step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                return self._diverged("gradient", step)
            if self.settings.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            step += 1
            correct = int((logits.detach().argmax(dim=1) == labels[batch]).sum())
            self.pending = [
                self.pending[0] + float(loss.detach()) * batch.numel(),
                self.pending[1] + correct,
                self.pending[2] + batch.numel(),
            ]
            if step % self.record_every == 0 or step == self.total_steps:
                self._record(step)
            bar.update(1)
        self.epoch += 1
        return True

    def _record(self, step: int) -> None:
        loss_sum, correct, count = self.pending
        val_loss, val_accuracy = evaluate_classifier(self.model, self.splits["val"])
        self.model.train()
        history = self.history
        history.steps.append(step)
        history.train_loss.append(loss_sum / count)
        history.train_accuracy.append(correct / count)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_accuracy)
        self.pending = [0.0, 0.0, 0.0]

    def _diverged(self, which: str, step: int) -> bool:
        self.history.diverged = True
        self.history.message = (
            f"training diverged: non-finite {which} at step {step + 1}; stopped and restored "
            f"the weights after epoch {self.epoch}"
        )
        return False


def _checked_splits(data: Any, dtype: torch.dtype) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train", "val", "test"}`` -> ``(x, labels)``, validated, ``x`` cast to ``dtype``."""
    splits = {}
    for name in ("train", "val", "test"):
        pair = getattr(data, name, None)
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"data.{name} must be an (x, labels) pair")
        x, labels = pair
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point():
            raise ValueError(f"data.{name} inputs must be a float tensor (n, T, d)")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"data.{name} inputs contain NaN or infinite values")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
            raise ValueError(f"data.{name} labels must be an integer tensor (n,)")
        if labels.numel() != x.shape[0] or labels.numel() == 0:
            raise ValueError(
                f"data.{name} has {x.shape[0]} inputs and {labels.numel()} labels (need equal, > 0)"
            )
        splits[name] = (x.to(dtype), labels.long())
    return splits


def _matching_checkpoint(path: Path, run_config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint at ``path``, if it was written by a run with ``run_config``."""
    state = load_checkpoint(path)
    saved = state["config"]
    changed = sorted(k for k in set(saved) | set(run_config) if saved.get(k) != run_config.get(k))
    if changed:
        raise ValueError(
            f"cannot resume from {str(path)!r}: settings differ from the checkpoint "
            f"({', '.join(changed)})"
        )
    return state
