"""``memory --input-bound``: the bound of the sup is applied, stated and saved."""

from __future__ import annotations

import json

import numpy as np

from curse_of_memory.cli import main


def _run(tmp_path, capsys, *extra):
    values = tmp_path / "m.json"
    argv = ["memory", "--target", "exp", "--length", "50", "--dt", "0.1",
            "--figure", str(tmp_path / "m.png"), "--json", str(values), *extra]  # fmt: skip
    assert main(argv) == 0
    return capsys.readouterr().out, json.loads(values.read_text())


def test_default_bound_is_one_and_stated(tmp_path, capsys):
    out, data = _run(tmp_path, capsys)
    assert "sup over 0 < |x|_inf <= 1," in out
    assert data["input_bound"] == 1.0 and "<= 1" in data["measured"]["heaviside"]


def test_bound_changes_the_x_plus_one_memory(tmp_path, capsys):
    # A linear map with 1/(|x|_inf + 1): the sup over |x|_inf <= X is |rho| X / (X + 1).
    out, data = _run(tmp_path, capsys, "--normalization", "x+1", "--input-bound", "3")
    assert "<= 3, normalised by |x|_inf + 1" in out
    bounded = np.asarray(data["kinds"]["heaviside"]["memory"])
    _, unit = _run(tmp_path, capsys, "--normalization", "x+1")
    np.testing.assert_allclose(
        bounded, np.asarray(unit["kinds"]["heaviside"]["memory"]) * 2 * 3 / 4, rtol=1e-9
    )
    _, free = _run(tmp_path, capsys, "--input-bound", "inf")
    assert free["input_bound"] is None  # unbounded, written as JSON null


def test_bad_bound_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["memory", "--input-bound", "0"]) == 2
    assert "input_bound must be a positive number" in capsys.readouterr().err
