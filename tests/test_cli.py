"""End-to-end checks of the command line (run in-process through ``main``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

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
    heaviside = data["kinds"]["heaviside"]
    np.testing.assert_allclose(heaviside["memory"], np.exp(-rate * t), rtol=1e-10, atol=1e-13)
    assert heaviside["fit"]["law"] == "exponential"
    assert math.isclose(heaviside["fit"]["rate"], rate, rel_tol=1e-3)
    assert data["verdict"].startswith("short (exponentially decaying) memory")


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
    np.testing.assert_allclose(data["kinds"]["heaviside"]["memory"], expected, rtol=1e-8)


# -- start-up and help ----------------------------------------------------------------------
def test_top_level_help_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from curse_of_memory.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'numba', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "memory" in done.stdout and "reproduce" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_the_valid_names(capsys):
    from curse_of_memory.analysis.memory import KINDS
    from curse_of_memory.kernels.activations import ACTIVATIONS
    from curse_of_memory.models import PARAMETRIZATIONS, STRUCTURES

    expected = {
        "train": {"--activation": ACTIVATIONS, "--parametrization": PARAMETRIZATIONS,
                  "--structure": STRUCTURES},
        "memory": {"--kind": KINDS},
    }  # fmt: skip
    for command, options in expected.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())  # undo line wrapping
        for option, names in options.items():
            shown = text.split(f"{option} ")[-1]
            assert all(name in shown[:200] for name in names), (option, shown[:200])


# -- memory of any model ----------------------------------------------------------------------
MODEL_FILE = '''
import torch


def build(hidden=5):
    torch.manual_seed(7)
    return torch.nn.GRU(2, hidden, batch_first=True)


def leaky(decay=0.9):
    """y_k = sum_j decay^j x_{k-j}: memory decay^k / dt under every test input."""
    def integrate(x):
        weights = decay ** torch.arange(x.shape[1], dtype=x.dtype)
        out = torch.zeros_like(x)
        for k in range(x.shape[1]):
            out[:, k] = (weights[: k + 1].flip(0)[None, :, None] * x[:, : k + 1]).sum(1)
        return out
    return integrate
'''


def test_memory_of_a_torch_module_built_by_a_python_file(tmp_path, capsys):
    import torch

    from curse_of_memory import fit_decay, memory_function

    (tmp_path / "my_model.py").write_text(MODEL_FILE)
    values = tmp_path / "m.json"
    code = main(
        [
            "memory",
            "--model", f"{tmp_path / 'my_model.py'}:build",
            "--model-param", "hidden=4",
            "--kind", "heaviside,impulse",
            "--length", "40",
            "--figure", str(tmp_path / "m.png"),
            "--json", str(values),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "your code" in out and "verdict: " in out
    data = json.loads(values.read_text())
    assert (
        data["dt"] == 1.0
        and data["input_dim"] == 2
        and list(data["kinds"])
        == [
            "heaviside",
            "impulse",
        ]
    )
    torch.manual_seed(7)
    gru = torch.nn.GRU(2, 4, batch_first=True)
    for kind, entry in data["kinds"].items():
        direct = memory_function(gru, 40, 1.0, kind=kind)
        np.testing.assert_allclose(entry["memory"], direct.values, rtol=1e-12, atol=0)
        assert entry["fit"]["law"] == fit_decay(direct).law
        assert f"[{kind}]" in out
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_memory_of_a_callable_named_as_module_function(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "user_models.py").write_text(MODEL_FILE)
    argv = ["memory", "--model", "user_models:leaky", "--model-param", "decay=0.8",
            "--kind", "all", "--length", "30", "--json", "m.json", "--quiet"]  # fmt: skip
    assert main(argv) == 2  # a plain callable does not tell its input channels
    assert "--input-dim" in capsys.readouterr().err
    assert main([*argv, "--input-dim", "1"]) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    expected = 0.8 ** np.arange(30)  # closed form: decay^k / dt with dt = 1
    for kind in ("heaviside", "impulse"):
        np.testing.assert_allclose(data["kinds"][kind]["memory"], expected, rtol=1e-9)
        assert math.isclose(data["kinds"][kind]["fit"]["rate"], -math.log(0.8), rel_tol=1e-6)
    # reversed: a burn-in of B = length steps, so |rho(k) - rho(k + B)| (paper eq 128)
    reversed_expected = expected - 0.8 ** (np.arange(30) + 30)
    np.testing.assert_allclose(data["kinds"]["reversed"]["memory"], reversed_expected, rtol=1e-9)
    assert "heaviside, impulse, reversed inputs agree" in data["verdict"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("not a spec:", "is not understood"),
        ("my_model.py", "name the function"),
        ("missing_file.py:build", "does not exist"),
        ("my_model.py:nothing", "callables defined: build, leaky"),
        ("no_such_module_anywhere:build", "no module named"),
        ("nothing-here.pt", "--model takes a saved model file"),
    ],
)
def test_bad_model_specs_are_one_line_errors(spec, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_model.py").write_text(MODEL_FILE)
    assert main(["memory", "--model", spec, "--length", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_figure_titles_name_the_inputs_and_dashes_only_when_drawn():
    from curse_of_memory import LinearFunctional, fit_decay, memory_function
    from curse_of_memory.plotting import plot_memory_functions

    target = LinearFunctional.named("exp", rate=0.5)
    impulse = memory_function(target, 100, 0.1, kind="impulse")
    fig = plot_memory_functions({"a": impulse}, {"a": fit_decay(impulse)})
    assert fig.axes[0].get_title() == (
        "Memory functions (impulse inputs; sup over 0 < |x|_inf <= 1; dashed: fitted decay law)"
    )
    short = memory_function(target, 3, 0.1, kind="reversed")  # too short to fit: undetermined
    fig = plot_memory_functions({"b": short}, {"b": fit_decay(short)}, subject="x")
    assert fig.axes[0].get_title() == "Memory of x (reversed inputs; sup over 0 < |x|_inf <= 1)"
    heaviside = memory_function(target, 100, 0.1)
    fig = plot_memory_functions(
        {"h": heaviside, "i": impulse}, axes=("loglog", "semilogy"), subject="y"
    )
    assert len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"
    assert fig.axes[1].get_xscale() == "linear"
    assert fig._suptitle.get_text() == (
        "Memory of y (Heaviside, impulse inputs; sup over 0 < |x|_inf <= 1)"
    )
    unbounded = memory_function(target, 100, 0.1, input_bound=float("inf"))
    fig = plot_memory_functions({"u": unbounded})
    assert fig.axes[0].get_title() == "Memory functions (Heaviside inputs; sup over 0 < |x|_inf)"


# -- train history --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_train_writes_its_loss_history(suffix, tmp_path):
    import csv

    import torch

    from curse_of_memory import ContinuousRNN, LinearFunctional, make_dataset, train

    history = tmp_path / f"history{suffix}"
    argv = ["train", "--target", "exp", "--target-param", "rate=0.2", "--hidden", "3",
            "--epochs", "3", "--length", "12", "--samples", "40", "--batch-size", "8",
            "--lr", "0.01", "--out", str(tmp_path / "m.pt"), "--history", str(history),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    # The same run through the Python API gives the reference losses.
    torch.manual_seed(0)
    model = ContinuousRNN(3, activation="tanh", parametrization="softplus").double()
    data = make_dataset(LinearFunctional.named("exp", rate=0.2), 40, 12, 1.0, seed=0)
    result = train(model, data, epochs=3, lr=0.01, batch_size=8, seed=0, progress=False)
    if suffix == ".json":
        saved = json.loads(history.read_text())
        columns = (saved["epoch"], saved["train_loss"], saved["val_loss"], saved["lr"])
        rows = list(zip(*columns, strict=True))
    else:
        with history.open() as handle:
            reader = csv.reader(handle)
            assert next(reader) == ["epoch", "train_loss", "val_loss", "lr"]
            rows = [(int(e), float(tr), float(va), float(lr)) for e, tr, va, lr in reader]
    expected = list(zip([1, 2, 3], result.train_losses, result.val_losses, result.lrs, strict=True))
    np.testing.assert_allclose(np.array(rows), np.array(expected), rtol=1e-12, atol=0)
