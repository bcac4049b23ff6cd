"""Experiment runner, resume, registry and the reproduce/ledger CLI."""

from __future__ import annotations

import csv
import json

import pytest

from curse_of_memory.cli import main
from curse_of_memory.experiments import EXPERIMENTS, _linear, headline, run_experiment
from curse_of_memory.experiments import fig1 as fig1_module
from curse_of_memory.experiments._units import is_unit_experiment

FILES = ("config.json", "results.json", "curves.csv", "figure.png", "figure.pdf", "claims.json")


def test_registry_modules_have_the_interface():
    assert {"fig1", "fig4"} <= set(EXPERIMENTS)
    for module in EXPERIMENTS.values():
        assert {"quick", "paper"} <= set(module.PRESETS)
        for name in ("Config", "plot", "claims", "summary", "DESCRIPTION"):
            assert hasattr(module, name)
        assert hasattr(module, "run") or is_unit_experiment(module)
    paper = fig1_module.PRESETS["paper"]
    assert paper.widths == (2, 4, 6, 8, 14) and len(paper.betas) == 22 and paper.samples == 10


def test_run_fig1_quick_writes_everything(tmp_path):
    run_dir = run_experiment("fig1", out_dir=tmp_path, run_id="r1", progress=False)
    assert run_dir == tmp_path / "fig1" / "r1"
    for name in (*FILES, "DONE"):
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "DONE").read_text())
    # DONE is written last
    assert all(
        (run_dir / "DONE").stat().st_mtime_ns >= (run_dir / f).stat().st_mtime_ns for f in FILES
    )
    claims = json.loads((run_dir / "claims.json").read_text())
    assert {c["id"] for c in claims} == {
        "fig1.exp_stable",
        "fig1.pol_unstable",
        "fig1.approximation",
    }
    assert all(c["passed"] for c in claims)
    assert manifest["claims_passed"] == manifest["claims_total"] == 3
    results = json.loads((run_dir / "results.json").read_text())
    assert results["panels"]["exp"]["verdict"]["stable"]
    assert not results["panels"]["pol"]["verdict"]["stable"]
    with open(run_dir / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = sum(len(c["betas"]) for p in results["panels"].values() for c in p["curves"])
    assert len(rows) == expected and rows[0].keys() == {"panel", "width", "beta", "error"}
    assert not list(run_dir.glob("*.tmp"))
    with pytest.raises(FileExistsError, match="resume"):
        run_experiment("fig1", out_dir=tmp_path, run_id="r1", progress=False)


def test_resume_after_interruption(tmp_path, monkeypatch):
    real = _linear.perturbation_curve
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # simulated Ctrl-C during the third step
        return real(*args, **kwargs)

    monkeypatch.setattr(_linear, "perturbation_curve", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("fig1", out_dir=tmp_path, run_id="r", progress=False)
    run_dir = tmp_path / "fig1" / "r"
    assert not (run_dir / "DONE").exists()
    assert len(list((run_dir / "steps").glob("*.json"))) == 2

    counted = {"n": 0}

    def counting(*args, **kwargs):
        counted["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_linear, "perturbation_curve", counting)
    run_experiment("fig1", out_dir=tmp_path, run_id="r", resume=True, progress=False)
    total = 2 * len(fig1_module.PRESETS["quick"].widths)
    assert counted["n"] == total - 2  # the two saved steps were reused
    assert (run_dir / "DONE").is_file()

    fresh = run_experiment("fig1", out_dir=tmp_path, run_id="fresh", progress=False)
    resumed = json.loads((run_dir / "results.json").read_text())
    uninterrupted = json.loads((fresh / "results.json").read_text())
    assert resumed["panels"] == uninterrupted["panels"]
    assert len(resumed["run"]["reused_steps"]) == 2

    with pytest.raises(ValueError, match="config differs"):
        run_experiment(
            "fig1",
            out_dir=tmp_path,
            run_id="r",
            resume=True,
            progress=False,
            overrides={"samples": 2},
        )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fig1, .*fig4"):
        run_experiment("fig99", out_dir=tmp_path)
    with pytest.raises(ValueError, match="preset"):
        run_experiment("fig1", preset="huge", out_dir=tmp_path)
    with pytest.raises(ValueError, match="valid keys"):
        run_experiment("fig1", out_dir=tmp_path, overrides={"epochs": 3})
    with pytest.raises(ValueError, match="samples"):
        run_experiment("fig1", out_dir=tmp_path, overrides={"samples": 0})
    assert not (tmp_path / "fig1").exists()  # nothing written before validation


def test_cli_list_unknown_and_ledger(tmp_path, capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "fig1" in out and "fig4" in out and "quick, paper" in out

    assert main(["reproduce", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "fig1" in err and "fig4" in err

    assert main(["ledger", "--out", str(tmp_path)]) == 0
    assert "no complete runs" in capsys.readouterr().out

    assert main(["reproduce", "fig4", "--out", str(tmp_path), "--run-id", "a", "--quiet"]) == 0
    assert "PASS  fig4.exp_stable" in capsys.readouterr().out
    assert main(["ledger", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fig4.softplus_stable" in out and "PASS" in out and "4/4 claims reproduced" in out


def test_headline():
    text = headline()
    assert "0.9^t: stable up to beta_0" in text
    assert "1/(t+1)^1.1: no stable approximation seen" in text
    assert "exp eigenvalues: stable up to" in text
