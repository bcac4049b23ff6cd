"""Tests of curse_of_memory.training: losses, the fit loop, checkpoints/resume,
divergence handling, argument checks, the model file format and the ``train`` CLI."""

from __future__ import annotations

import math
import pickle
import re

import pytest
import torch
from torch import nn

from curse_of_memory.cli import main as cli_main
from curse_of_memory.models import ContinuousRNN
from curse_of_memory.targets import LinearFunctional, make_dataset
from curse_of_memory.training import (
    MODEL_FORMAT,
    TRAINING_PRESETS,
    evaluate_loss,
    load_checkpoint,
    load_model,
    mse_loss,
    resolve_config,
    save_model,
    time_weighted_mse,
    train,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small problems run fastest (and most reproducibly) on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class _PointwiseNet(nn.Module):
    """A tiny per-time-step MLP ``(batch, T, 1) -> (batch, T, 1)`` with a differentiable
    ``stability_margin`` (so the official preset's penalty term is exercised)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(1, 4, dtype=torch.float64)
        self.out = nn.Linear(4, 1, dtype=torch.float64)
        self.rate = nn.Parameter(torch.tensor([0.3], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))

    def stability_margin(self) -> torch.Tensor:
        return nn.functional.softplus(self.rate).min()


class _PoisonAfter(_PointwiseNet):
    """Returns inf from its ``n_good + 1``-th training-mode forward call on."""

    def __init__(self, n_good: int) -> None:
        super().__init__()
        self.n_good = n_good
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls > self.n_good:
                return y * math.inf
        return y


class _InterruptAfter(_PointwiseNet):
    """Raises KeyboardInterrupt (a simulated Ctrl-C) on its ``n_calls + 1``-th training call."""

    def __init__(self, n_calls: int) -> None:
        super().__init__()
        self.n_calls = n_calls
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls > self.n_calls:
                raise KeyboardInterrupt
        return super().forward(x)


def _toy_data(seed: int = 0, n_train: int = 32, n_val: int = 8, length: int = 6):
    """((x, y) train, (x, y) val) with y = 0.5 * cumulative sum of x (float64)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_val, length, 1, generator=g, dtype=torch.float64)
    y = 0.5 * x.cumsum(dim=1)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _fresh(cls=_PointwiseNet, *args, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cls(*args)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- losses -------------------------------------------------------------------------------
def test_time_weighted_mse_matches_hand_computation():
    # T = 3, p = 2: raw weights (1/4)^2, (2/4)^2, (3/4)^2 = [1, 4, 9]/16, renormalised to
    # T w / sum w = 3 [1, 4, 9] / 14 (the official code's twe_MSE).
    weights = [3 * 1 / 14, 3 * 4 / 14, 3 * 9 / 14]
    errors = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]  # two sequences
    target = torch.tensor([[[0.1], [0.2], [-0.3]], [[1.0], [-2.0], [0.5]]], dtype=torch.float64)
    prediction = target + torch.tensor(errors, dtype=torch.float64).unsqueeze(-1)
    expected = sum(w**2 * e**2 for row in errors for w, e in zip(weights, row, strict=True)) / 6
    assert time_weighted_mse(prediction, target).item() == pytest.approx(expected, rel=1e-12)
    # p = 1: w = 3 [1, 2, 3] / 6
    weights1 = [0.5, 1.0, 1.5]
    expected1 = sum(w**2 * e**2 for row in errors for w, e in zip(weights1, row, strict=True)) / 6
    assert time_weighted_mse(prediction, target, power=1.0).item() == pytest.approx(
        expected1, rel=1e-12
    )
    plain = sum(e**2 for row in errors for e in row) / 6
    assert mse_loss(prediction, target).item() == pytest.approx(plain, rel=1e-12)


def test_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        time_weighted_mse(torch.zeros(2, 3, 1), torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="shape"):
        mse_loss(torch.zeros(2, 3, 1), torch.zeros(2, 3, 2))


# -- presets -------------------------------------------------------------------------------
def test_presets_and_overrides():
    paper = resolve_config("paper")  # paper Appendix D
    assert (paper.optimizer, paper.lr, paper.batch_size, paper.loss) == ("adam", 0.005, 128, "mse")
    assert (paper.epochs, paper.stop_at_val_loss) == (1000, 1e-8)
    official = resolve_config("official")  # the official code's configs
    assert (official.optimizer, official.lr, official.weight_decay) == ("adamw", 0.01, 0.0)
    assert (official.scheduler, official.grad_clip, official.batch_size) == ("plateau", 0.5, 512)
    assert (official.loss, official.stability_penalty) == ("time_weighted_mse", 0.01)
    overridden = resolve_config("official", lr=0.1, epochs=3, grad_clip=0, batch_size=None)
    assert (overridden.lr, overridden.epochs, overridden.grad_clip) == (0.1, 3, 0.0)
    assert overridden.batch_size == 512  # None keeps the preset's value
    assert set(TRAINING_PRESETS) == {"paper", "official"}


# -- the fit itself ------------------------------------------------------------------------
def test_linear_rnn_fits_exponential_memory_target():
    # rho(t) = 0.9^t with dt = 1: y_k = sum_j 0.9^j x_{k-j}, which a linear diagonal RNN
    # with one eigenvalue lambda = -0.1 (1 + dt lambda = 0.9) represents exactly.
    target = LinearFunctional.named("exp", rate=-math.log(0.9))
    data = make_dataset(target, 160, 32, 1.0, seed=0)
    torch.manual_seed(1)  # seeds 0-3 all reach < 1e-6 here, in 33-56 epochs
    model = ContinuousRNN(1, activation="linear", parametrization="softplus").double()
    result = train(
        model, data, epochs=60, lr=0.05, batch_size=32, stop_at_val_loss=1e-6, progress=False
    )
    assert not result.diverged
    test_mse = evaluate_loss(model, data.test, mse_loss)  # held-out data, outputs from rho
    assert test_mse < 1e-4, result.message
    assert result.val_losses[-1] < 1e-4
    assert result.best_val_loss == min(result.val_losses)
    assert len(result.train_losses) == len(result.val_losses) == len(result.lrs)
    assert result.epochs_run == len(result.val_losses)
    if result.stopped_early:
        assert result.val_losses[-1] <= 1e-6 and result.epochs_run <= 60
    eigenvalue = model.recurrent_eigenvalues().real.item()
    assert eigenvalue == pytest.approx(-0.1, abs=1e-2)


def test_stop_at_val_loss_stops_after_threshold(capsys):
    model = _fresh()
    result = train(model, _toy_data(), epochs=20, lr=0.01, batch_size=8, stop_at_val_loss=1e6,
                   progress=True)  # fmt: skip
    assert result.stopped_early and result.epochs_run == 1
    assert "stopped early" in result.message
    assert "train" in capsys.readouterr().err  # the tqdm bar


def test_plateau_scheduler_reduces_lr_on_plateau():
    # lr = 1e-12: the val loss cannot improve, so after patience 10 the lr drops by 10x
    model = _fresh()
    result = train(model, _toy_data(), epochs=13, lr=1e-12, batch_size=32, scheduler="plateau",
                   progress=False)  # fmt: skip
    assert result.lrs[:12] == [1e-12] * 12
    assert result.lrs[12] == pytest.approx(1e-13)


# -- checkpoints and resume ----------------------------------------------------------------
RESUME_SETTINGS = dict(preset="official", epochs=6, batch_size=8, lr=0.02, progress=False)


def test_resume_after_kill_is_bit_identical(tmp_path):
    data = _toy_data()
    straight = _fresh()
    full = train(straight, data, **RESUME_SETTINGS)

    ck = tmp_path / "run.ck"
    # Killed by an interrupt in the middle of epoch 4 (4 batches per epoch).
    killed = _fresh(_InterruptAfter, 4 * 3 + 2)
    with pytest.raises(KeyboardInterrupt):
        train(killed, data, checkpoint_path=ck, checkpoint_every=2, **RESUME_SETTINGS)
    state = load_checkpoint(ck)
    assert state["epoch"] == 3 and len(state["history"]["val_losses"]) == 3
    assert list(tmp_path.iterdir()) == [ck]  # atomic writes leave no temporary files

    resumed = _fresh(seed=123)  # different initial weights: all must come from the checkpoint
    result = train(resumed, data, checkpoint_path=ck, resume=True, **RESUME_SETTINGS)
    _assert_same_weights(_weights(resumed), _weights(straight))
    assert result.val_losses == full.val_losses and result.train_losses == full.train_losses
    assert result.epochs_run == 6


def test_resume_extends_a_finished_run(tmp_path):
    data = _toy_data()
    straight = _fresh()
    train(straight, data, **RESUME_SETTINGS)
    ck = tmp_path / "run.ck"
    first = _fresh()
    train(first, data, checkpoint_path=ck, **{**RESUME_SETTINGS, "epochs": 3})
    second = _fresh(seed=7)
    train(second, data, checkpoint_path=ck, resume=True, **RESUME_SETTINGS)
    _assert_same_weights(_weights(second), _weights(straight))


def test_callback_interrupt_writes_checkpoint_and_resume_refuses_other_settings(tmp_path):
    data = _toy_data()
    ck = tmp_path / "run.ck"

    def stop_after_two(epoch, result):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_fresh(), data, checkpoint_path=ck, callback=stop_after_two, **RESUME_SETTINGS)
    assert load_checkpoint(ck)["epoch"] == 2
    with pytest.raises(ValueError, match="lr: 0.02 -> 0.5"):
        train(_fresh(), data, checkpoint_path=ck, resume=True, **{**RESUME_SETTINGS, "lr": 0.5})
    other_data = _toy_data(seed=1)
    with pytest.raises(ValueError, match="not the dataset"):
        train(_fresh(), other_data, checkpoint_path=ck, resume=True, **RESUME_SETTINGS)
    assert load_checkpoint(ck)["epoch"] == 2  # refused resumes leave the checkpoint alone


# -- divergence ----------------------------------------------------------------------------
def test_keep_best_ends_with_the_lowest_validation_loss_weights_and_resumes(tmp_path):
    # lr = 0.5 makes the validation loss jump around, so the last epoch is not the best
    data = _toy_data()
    settings = dict(epochs=8, lr=0.5, batch_size=8, progress=False, keep_best=True)
    straight = _fresh()
    result = train(straight, data, **settings)
    best = min(range(8), key=result.val_losses.__getitem__)
    assert result.best_epoch == best + 1 and best + 1 != 8
    # the returned model is the best epoch's: its validation loss is that epoch's
    recomputed = evaluate_loss(straight, data[1], mse_loss)
    assert recomputed == result.val_losses[best] == result.best_val_loss
    last = _fresh()
    train(last, data, **{**settings, "keep_best": False})
    assert evaluate_loss(last, data[1], mse_loss) == result.val_losses[-1]

    ck = tmp_path / "run.ck"
    killed = _fresh(_InterruptAfter, 4 * 5 + 1)  # Ctrl-C in epoch 6, after the best epoch
    with pytest.raises(KeyboardInterrupt):
        train(killed, data, checkpoint_path=ck, checkpoint_every=3, **settings)
    resumed = _fresh(seed=5)
    again = train(resumed, data, checkpoint_path=ck, resume=True, **settings)
    assert again.best_epoch == result.best_epoch
    _assert_same_weights(_weights(resumed), _weights(straight))


def test_non_finite_loss_stops_and_restores_last_good_weights():
    data = _toy_data()  # 4 batches of 8 per epoch
    reference = _fresh()
    train(reference, data, epochs=2, lr=0.01, batch_size=8, progress=False)

    poisoned = _fresh(_PoisonAfter, 4 * 2 + 1)  # inf output in the 2nd batch of epoch 3
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = train(poisoned, data, epochs=5, lr=0.01, batch_size=8, progress=False)
    assert result.diverged and result.epochs_run == 2
    assert len(result.val_losses) == 2 and all(math.isfinite(v) for v in result.val_losses)
    assert "epoch 3" in result.message and "after epoch 2" in result.message
    _assert_same_weights(_weights(poisoned), _weights(reference))


def test_absurd_learning_rate_is_reported_as_divergence():
    # float32 linear RNN with unconstrained eigenvalues: lr = 1e4 makes (1 + dt lambda)^T
    # overflow. The initial weights must come back, finite.
    data = make_dataset("exp", 40, 32, 1.0, dtype=torch.float32)
    model = _fresh(ContinuousRNN, 2, 1, 1, "linear", "direct")
    initial = _weights(model)
    with pytest.warns(RuntimeWarning, match="diverged"):
        result = train(model, data, epochs=5, lr=1e4, batch_size=8, progress=False)
    assert result.diverged and "diverged" in result.message
    _assert_same_weights(_weights(model), initial)


# -- argument checks -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(lr=float("nan")), ValueError, "lr"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(optimizer="sgd"), ValueError, "adam, adamw"),
        (dict(loss="l1"), ValueError, "mse, time_weighted_mse"),
        (dict(scheduler="cosine"), ValueError, "none, plateau"),
        (dict(preset="fast"), ValueError, "official, paper"),
        (dict(grad_clip=-0.5), ValueError, "grad_clip"),
        (dict(checkpoint_every=0), ValueError, "checkpoint_every"),
        (dict(resume=True), ValueError, "checkpoint_path"),
        (dict(seed=-1), ValueError, "seed"),
    ],
)
def test_bad_arguments_raise_before_training(kwargs, error, pattern):
    model = _fresh()
    before = _weights(model)
    settings = dict(epochs=2, lr=0.01, batch_size=8, progress=False)
    with pytest.raises(error, match=pattern):
        train(model, _toy_data(), **{**settings, **kwargs})
    _assert_same_weights(_weights(model), before)


def test_bad_models_and_datasets_raise():
    data = _toy_data()
    with pytest.raises(TypeError, match="nn.Module"):
        train(lambda x: x, data, epochs=1, lr=0.1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="trainable"):
        train(nn.Identity(), data, epochs=1, lr=0.1, batch_size=4, progress=False)
    no_margin = nn.Linear(1, 1, dtype=torch.float64)
    with pytest.raises(TypeError, match="stability_margin"):
        train(no_margin, data, epochs=1, lr=0.1, batch_size=4, stability_penalty=0.01,
              progress=False)  # fmt: skip
    with pytest.raises(TypeError, match="dataset"):
        train(_fresh(), data[0], epochs=1, lr=0.1, batch_size=4, progress=False)
    (x, y), val = data
    with pytest.raises(ValueError, match="agree"):
        train(_fresh(), ((x, y[:, :-1]), val), epochs=1, lr=0.1, batch_size=4, progress=False)
    bad = x.clone()
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        train(_fresh(), ((bad, y), val), epochs=1, lr=0.1, batch_size=4, progress=False)


# -- model files -----------------------------------------------------------------------------
def test_save_and_load_model_round_trip(tmp_path):
    torch.manual_seed(3)
    model = ContinuousRNN(3, activation="tanh", parametrization="exp").double()
    path = save_model(model, tmp_path / "m.pt")
    raw = torch.load(path, weights_only=True)  # only tensors and plain values inside
    assert raw["format"] == MODEL_FORMAT and raw["config"] == model.config()
    loaded = load_model(path)
    x = torch.randn(2, 7, 1, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x))


def test_load_model_refuses_other_files_unless_pickle_allowed(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="model-v1"):
        load_model(tmp_path / "dict.pt")
    module = _fresh()
    torch.save(module, tmp_path / "module.pt")  # a whole pickled nn.Module
    with pytest.raises(ValueError, match="allow_pickle"):
        load_model(tmp_path / "module.pt")
    x = torch.randn(1, 4, 1, dtype=torch.float64)
    assert torch.equal(load_model(tmp_path / "module.pt", allow_pickle=True)(x), module(x))
    (tmp_path / "junk.pt").write_bytes(pickle.dumps("not torch", protocol=2) + b"garbage")
    with pytest.raises(ValueError):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(TypeError, match="config"):
        save_model(module, tmp_path / "nope.pt")


# -- CLI -------------------------------------------------------------------------------------
def test_cli_train_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "model.pt"
    argv = ["train", "--target", "exp", "--target-param", "rate=0.2", "--hidden", "3",
            "--activation", "tanh", "--parametrization", "softplus", "--epochs", "2",
            "--length", "12", "--samples", "40", "--batch-size", "8", "--lr", "0.01",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert re.search(r"epoch\s+2\s+train loss", printed)
    model = load_model(out)
    assert model.config()["hidden_size"] == 3 and model.config()["activation"] == "tanh"

    # Rebuild by hand from the raw (weights_only) file: same outputs.
    raw = torch.load(out, weights_only=True)
    config = {k: v for k, v in raw["config"].items() if k != "model"}
    by_hand = ContinuousRNN(**config).double()
    by_hand.load_state_dict(raw["state_dict"])
    # The printed test loss is the loss of the saved model on the same (seeded) data.
    data = make_dataset(LinearFunctional.named("exp", rate=0.2), 40, 12, 1.0, seed=0)
    x = data.test[0]
    assert torch.equal(model(x), by_hand(x))
    printed_test = float(re.search(r"test loss (\S+)", printed).group(1))
    assert evaluate_loss(model, data.test, mse_loss) == pytest.approx(printed_test, rel=1e-5)


def test_cli_train_bad_argument_exits_with_message(tmp_path, capsys):
    argv = ["train", "--target", "exp", "--epochs", "0", "--out", str(tmp_path / "m.pt")]
    assert cli_main(argv) == 2
    assert "epochs" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_stability_penalty_has_a_gradient_on_continuous_rnn():
    # relu(1 - margin) with margin = -max(lambda) = softplus(w_max) < 1 for small w:
    # d penalty / d w_i = -sigmoid(w_i) at the slowest eigenvalue (the official code's penalty).
    from curse_of_memory.models import ContinuousRNN
    from curse_of_memory.training import stability_penalty

    torch.manual_seed(0)
    model = ContinuousRNN(4, parametrization="softplus").double()
    raw = model.parametrizations.eigenvalues.original
    with torch.no_grad():
        raw.copy_(torch.tensor([-3.0, -2.0, -4.0, -5.0], dtype=torch.float64))
    penalty = stability_penalty(model)
    penalty.backward()
    expected = torch.zeros(4, dtype=torch.float64)
    expected[3] = -torch.sigmoid(torch.tensor(-5.0, dtype=torch.float64))
    assert float(penalty.detach()) == pytest.approx(1 - math.log1p(math.exp(-5.0)), rel=1e-12)
    torch.testing.assert_close(raw.grad, expected, rtol=1e-12, atol=0)
