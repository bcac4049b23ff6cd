"""Sequence classifier and its training loop: forward pass, identical initialisation,
learning, resume, divergence and bad input."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from curse_of_memory.models.classifier import SequenceClassifier
from curse_of_memory.training import classification
from curse_of_memory.training.classification import (
    ClassifierTraining,
    evaluate_classifier,
    train_classifier,
)

PARAMETRIZATIONS = ("softplus", "exp", "inverse", "direct")


def _euler_logits(model: SequenceClassifier, x: torch.Tensor) -> torch.Tensor:
    """Brute-force float64 reference: h_{k+1} = h_k + dt tanh(W h_k + U x_k + b),
    logits = mean_k (C h_{k+1} + d)."""
    rnn = model.rnn
    w = rnn.recurrent_matrix().detach().double()
    u, b = rnn.input_kernel.weight.detach().double(), rnn.input_kernel.bias.detach().double()
    c, d = rnn.readout.weight.detach().double(), rnn.readout.bias.detach().double()
    h = torch.zeros(x.shape[0], w.shape[0], dtype=torch.float64)
    outputs = []
    for k in range(x.shape[1]):
        h = h + rnn.dt * torch.tanh(h @ w.T + x[:, k].double() @ u.T + b)
        outputs.append(h @ c.T + d)
    return torch.stack(outputs, dim=1).mean(dim=1)


@pytest.mark.parametrize("structure", ["diagonal", "symmetric"])
def test_logits_are_the_mean_pooled_linear_head(structure):
    torch.manual_seed(0)
    model = SequenceClassifier(3, hidden_size=5, structure=structure, dt=0.5).double()
    x = torch.randn(4, 7, 1, dtype=torch.float64)
    torch.testing.assert_close(model(x), _euler_logits(model, x), rtol=1e-10, atol=1e-12)


def test_same_seed_gives_the_same_function_for_every_parametrization():
    x = torch.randn(6, 9, 1, dtype=torch.float64)
    outputs, raw = [], []
    for name in PARAMETRIZATIONS:
        torch.manual_seed(11)
        model = SequenceClassifier(10, hidden_size=8, parametrization=name).double()
        outputs.append(model(x).detach())
        raw.append(model.rnn.raw_recurrent_weight.detach().clone())
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], rtol=1e-6, atol=1e-7)
    assert not torch.allclose(raw[0], raw[1])  # the raw coordinates differ (softplus vs exp)


def _separable_data(n: int = 96, length: int = 6, seed: int = 0) -> SimpleNamespace:
    """Class = sign of the sequence mean (learnable by mean pooling)."""
    generator = torch.Generator().manual_seed(seed)

    def split(size: int):
        labels = torch.randint(0, 2, (size,), generator=generator)
        x = torch.randn(size, length, 1, generator=generator) * 0.3
        x += (2.0 * labels - 1.0).view(-1, 1, 1)
        return x, labels

    return SimpleNamespace(train=split(n), val=split(32), test=split(32))


def test_training_learns_and_records_curves():
    data = _separable_data()
    torch.manual_seed(0)
    model = SequenceClassifier(2, hidden_size=4, structure="diagonal")
    settings = ClassifierTraining(epochs=8, lr=0.05, batch_size=16, eval_points=4)
    history = train_classifier(model, data, settings, seed=3)
    assert history.total_steps == 8 * 6 and history.steps == [12, 24, 36, 48]
    assert len(history.train_loss) == len(history.val_accuracy) == 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.test_accuracy >= 0.95 and not history.diverged
    # the reported test numbers are what an independent evaluation gives
    logits = model(data.test[0])
    expected = torch.nn.functional.cross_entropy(logits, data.test[1]).item()
    assert history.test_loss == pytest.approx(expected, rel=1e-5)
    assert history.test_accuracy == (logits.argmax(1) == data.test[1]).float().mean().item()
    assert evaluate_classifier(model, data.test, batch_size=5)[0] == pytest.approx(expected, 1e-5)


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_learning_rate_schedule(schedule, monkeypatch):
    data = _separable_data(n=32)  # 4 steps per epoch, 12 steps in all
    torch.manual_seed(0)
    model = SequenceClassifier(2, hidden_size=3, structure="diagonal")
    seen = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    settings = ClassifierTraining(epochs=3, batch_size=8, lr=0.01, schedule=schedule)
    train_classifier(model, data, settings)
    expected = [
        0.01 * 0.5 * (1 + math.cos(math.pi * i / 12)) if schedule == "cosine" else 0.01
        for i in range(12)
    ]
    assert seen == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_resume_after_interrupt_is_bit_identical(tmp_path, monkeypatch):
    data = _separable_data()
    settings = ClassifierTraining(epochs=4, lr=0.02, batch_size=32, eval_points=8)

    def fresh():
        torch.manual_seed(5)
        return SequenceClassifier(2, hidden_size=4, parametrization="exp")

    reference_model = fresh()
    reference = train_classifier(reference_model, data, settings, seed=1)

    checkpoint = tmp_path / "run.pt"
    real_epoch = classification._ClassifierRun.one_epoch
    calls = {"n": 0}

    def interrupting(self, bar):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_epoch(self, bar)

    monkeypatch.setattr(classification._ClassifierRun, "one_epoch", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(fresh(), data, settings, seed=1, checkpoint_path=checkpoint)
    monkeypatch.setattr(classification._ClassifierRun, "one_epoch", real_epoch)
    resumed_model = fresh()
    resumed = train_classifier(
        resumed_model, data, settings, seed=1, checkpoint_path=checkpoint, resume=True
    )
    assert resumed.steps == reference.steps and resumed.val_loss == reference.val_loss
    assert resumed.train_loss == reference.train_loss and resumed.test_loss == reference.test_loss
    for a, b in zip(resumed_model.parameters(), reference_model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = ClassifierTraining(epochs=4, lr=0.03, batch_size=32, eval_points=8)
    with pytest.raises(ValueError, match="settings differ.*lr"):
        train_classifier(fresh(), data, other, seed=1, checkpoint_path=checkpoint, resume=True)


class _ExplodesWhileTraining(torch.nn.Module):
    """Logits become NaN from the 4th training forward pass on (finite in eval mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(1, 2)
        self.calls = 0

    def forward(self, x):
        logits = self.head(x.mean(dim=1))
        if self.training:
            self.calls += 1
            if self.calls >= 4:
                return logits * math.nan
        return logits


def test_divergence_stops_and_restores_the_last_epoch():
    data = _separable_data(n=32)
    model = _ExplodesWhileTraining()
    history = train_classifier(model, data, ClassifierTraining(epochs=5, batch_size=16))
    assert history.diverged and "diverged" in history.message and history.epochs_run == 1
    assert math.isfinite(history.test_loss)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"schedule": "step"}, "schedule.*constant, cosine"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"eval_points": 0}, "eval_points"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ClassifierTraining(**kwargs)


def test_bad_data_is_refused_before_training():
    model = SequenceClassifier(2, hidden_size=3)
    data = _separable_data(n=8)
    float_labels = SimpleNamespace(train=(data.train[0], data.train[1].float()), val=data.val,
                                   test=data.test)  # fmt: skip
    with pytest.raises(ValueError, match="train labels must be an integer tensor"):
        train_classifier(model, float_labels)
    with pytest.raises(TypeError, match="data.val must be"):
        train_classifier(model, SimpleNamespace(train=data.train, val=None, test=data.test))
    with pytest.raises(ValueError, match="resume=True needs checkpoint_path"):
        train_classifier(model, data, resume=True)
