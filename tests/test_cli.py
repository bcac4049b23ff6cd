"""End-to-end checks of the command line (run in-process through ``main``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curse_of_memory.cli import build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # argparse internals, read-only
    for name in subcommands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_memory_command_on_exp_target_matches_closed_form(tmp_path, capsys):
    rate = 0.5
    figure, values = tmp_path / "m.png", tmp_path / "m.json"
    code = main(
        [
            "memory",
            "--target", "exp",
            "--target-param", f"rate={rate}",
            "--length", "200",
            "--dt", "0.1",
            "--figure", str(figure),
            "--json", str(values),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "exponential" in out
    assert figure.stat().st_size > 1000
    data = json.loads(values.read_text())
    t = np.asarray(data["t"])
    np.testing.assert_allclose(t, 0.1 * np.arange(200))
    np.testing.assert_allclose(data["memory"], np.exp(-rate * t), rtol=1e-10, atol=1e-13)
    assert data["fit"]["law"] == "exponential"
    assert math.isclose(data["fit"]["rate"], rate, rel_tol=1e-3)


def test_memory_command_on_pol_target_reports_polynomial(tmp_path, capsys):
    code = main(
        [
            "memory",
            "--target", "pol",
            "--target-param", "power=1.5",
            "--length", "2000",
            "--dt", "1.0",
            "--figure", str(tmp_path / "m.png"),
        ]
    )  # fmt: skip
    assert code == 0
    assert "polynomial" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["memory", "--target", "nope"], "valid choices"),
        (["memory", "--dt", "-1"], "dt"),
        (["memory", "--length", "0"], "length"),
        (["memory", "--kind", "sideways"], "heaviside"),
        (["memory", "--target-param", "power"], "KEY=VALUE"),
        (["memory", "--model", "does-not-exist.pt"], "does-not-exist.pt"),
    ],
)
def test_bad_arguments_give_a_clear_error(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err
    assert not (tmp_path / "memory.png").exists()


def test_demo_memory_part_runs_and_gives_verdicts(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--skip-stability"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "memory_functions.png").stat().st_size > 1000
    verdicts = out.split("== 2. Verdict ==")[1]
    assert "rho=0.9^t: short (exponentially decaying) memory" in verdicts
    assert "rho=1/(t+1)^1.5: LONG (polynomial" in verdicts
    assert "random tanh RNN (m=16): short" in verdicts


def test_train_then_memory_of_the_saved_model(tmp_path, capsys):
    # The round trip: `train` saves a model that `memory --model` reads. A
    # linear diagonal model has the closed-form memory |c^T (I + dt W)^k U| (d = 1).
    import torch

    from curse_of_memory.training import load_model

    model_path, values = tmp_path / "m.pt", tmp_path / "m.json"
    code = main(
        [
            "train",
            "--target", "pol",
            "--hidden", "4",
            "--activation", "linear",
            "--parametrization", "softplus",
            "--epochs", "1",
            "--samples", "64",
            "--length", "20",
            "--dt", "0.5",
            "--out", str(model_path),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    code = main(
        [
            "memory",
            "--model", str(model_path),
            "--length", "50",
            "--figure", str(tmp_path / "m.png"),
            "--json", str(values),
        ]
    )  # fmt: skip
    assert code == 0
    model = load_model(model_path)
    with torch.no_grad():
        lam = model.eigenvalues.double().numpy()
        u = model.input_kernel.weight[:, 0].double().numpy()
        c = model.readout.weight[0].double().numpy()
    k = np.arange(50)[:, None]
    expected = np.abs(((1 + model.dt * lam)[None, :] ** k) @ (u * c))
    data = json.loads(values.read_text())
    assert model.dt == 0.5 and data["dt"] == 0.5  # the model's own step is the default
    np.testing.assert_allclose(data["memory"], expected, rtol=1e-8)
