"""Experiment runner, resume, registry and the reproduce/ledger CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.linear_theory import PAPER_UNPERTURBED_ERRORS, PAPER_WIDTHS
from curse_of_memory.cli import main
from curse_of_memory.experiments import EXPERIMENTS, _linear, headline, run_experiment
from curse_of_memory.experiments import fig1 as fig1_module
from curse_of_memory.experiments import fig4 as fig4_module

FILES = ("config.json", "results.json", "curves.csv", "figure.png", "figure.pdf", "claims.json")


def test_registry_modules_have_the_interface():
    assert {"fig1", "fig4"} <= set(EXPERIMENTS)
    for module in EXPERIMENTS.values():
        assert {"quick", "paper"} <= set(module.PRESETS)
        for name in ("Config", "units", "assemble", "plot", "claims", "summary", "DESCRIPTION"):
            assert hasattr(module, name)
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
        "fig1.published_beta0",
        "fig1.published_e0",
    }  # no crossings claim: the quick preset lacks width 6
    results = json.loads((run_dir / "results.json").read_text())
    passed = {c["id"]: c["passed"] for c in claims}
    assert passed["fig1.exp_stable"] == results["panels"]["exp"]["verdict"]["stable"]
    assert passed["fig1.pol_unstable"] != results["panels"]["pol"]["verdict"]["stable"]
    assert manifest["claims_passed"] == sum(passed.values()) and manifest["claims_total"] == 5
    with open(run_dir / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = sum(len(c["betas"]) for p in results["panels"].values() for c in p["curves"])
    assert len(rows) == expected and rows[0].keys() == {"panel", "width", "beta", "error"}
    assert not list(run_dir.glob("*.tmp"))
    with pytest.raises(FileExistsError, match="resume"):
        run_experiment("fig1", out_dir=tmp_path, run_id="r1", progress=False)


def test_resume_after_interruption(tmp_path, monkeypatch):
    real = _linear.perturbation_error
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # simulated Ctrl-C during the third step
        return real(*args, **kwargs)

    monkeypatch.setattr(_linear, "perturbation_error", failing)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("fig1", out_dir=tmp_path, run_id="r", progress=False)
    run_dir = tmp_path / "fig1" / "r"
    assert not (run_dir / "DONE").exists()
    assert len(list((run_dir / "steps").glob("*/*.json"))) == 2

    counted = {"n": 0}

    def counting(*args, **kwargs):
        counted["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_linear, "perturbation_error", counting)
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
    with pytest.raises(ValueError, match="valid choices: .*fig1, .*fig4"):
        run_experiment("fig99", out_dir=tmp_path)
    with pytest.raises(ValueError, match="preset"):
        run_experiment("fig1", preset="huge", out_dir=tmp_path)
    with pytest.raises(ValueError, match="valid keys"):
        run_experiment("fig1", out_dir=tmp_path, overrides={"epochs": 3})
    with pytest.raises(ValueError, match="samples"):
        run_experiment("fig1", out_dir=tmp_path, overrides={"samples": 0})
    with pytest.raises(ValueError, match="perturbation .*valid choices: random, shift"):
        run_experiment("fig4", out_dir=tmp_path, overrides={"perturbation": "adversarial"})
    # nothing written before validation
    assert not (tmp_path / "fig1").exists() and not (tmp_path / "fig4").exists()


def test_cli_list_unknown_and_ledger(tmp_path, capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "fig1" in out and "fig4" in out and "quick, paper" in out

    assert main(["reproduce", "nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "fig1, " in err and "fig4, " in err

    assert main(["ledger", "--out", str(tmp_path)]) == 0
    assert "no complete runs" in capsys.readouterr().out

    assert main(["reproduce", "fig4", "--out", str(tmp_path), "--run-id", "a", "--quiet"]) == 0
    assert "fig4.exp_stable" in capsys.readouterr().out
    assert main(["ledger", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fig4.softplus_stable" in out and "claims reproduced" in out


def test_headline():
    text = headline()
    assert "fig1 (quick):" in text and "fig4 (quick):" in text
    assert "0.9^t: " in text and "1/(t+1)^1.1: unstable" in text
    assert "E_m(0) vs paper: m=2:" in text
    assert "exp eigenvalues: " in text


# ----------------------------------------------------------------------------- claims
def _unit_results(panels: dict, config, zero_error: float = 1e9) -> dict:
    """Unit results of constructed curves: panel -> errors(m, betas) for every width."""
    betas = np.asarray(config.betas)
    out = {}
    for panel, errors in panels.items():
        for m in config.widths:
            values = np.maximum.accumulate(errors(m, betas))
            curve = PerturbationCurve(betas, values, values[:, None], width=m)
            out[f"{panel}/m{m}"] = {"curve": curve.to_dict(), "fit": {"zero_error": zero_error}}
    return out


def _stable(m, b):  # E(beta) = beta: continuous at 0
    return 0.1 / m + b


def _unstable(m, b):  # E(beta) = inf for every beta > 0
    return 0.1 / m + m**0.5 * b


def _no_approximation(m, b):
    return 0.3 + 0 * m + b


def _claims(module, panels: dict, zero_error: float = 1e9, crossings=None) -> dict[str, bool]:
    config = module.PRESETS["paper"]
    results = module.assemble(config, _unit_results(panels, config, zero_error))
    if crossings is not None:  # the verdict's crossings of the pol panel, as given
        results["panels"]["pol"]["verdict"]["crossings"] = crossings
    return {c.id: c.passed for c in module.claims(results)}


def test_fig1_claims_follow_the_paper_and_fail_where_it_is_false():
    paper_like = _claims(fig1_module, {"exp": _stable, "pol": _unstable})
    assert paper_like["fig1.exp_stable"] and paper_like["fig1.pol_unstable"]
    assert paper_like["fig1.approximation"]
    reversed_ = _claims(fig1_module, {"exp": _unstable, "pol": _stable})
    assert not reversed_["fig1.exp_stable"] and not reversed_["fig1.pol_unstable"]
    flat = _claims(fig1_module, {"exp": _no_approximation, "pol": _unstable})
    assert not flat["fig1.approximation"] and not flat["fig1.exp_stable"]


def test_fig1_published_e0_claim_uses_a_factor_two():
    published = dict(zip(PAPER_WIDTHS, PAPER_UNPERTURBED_ERRORS["exp"], strict=True))
    published_pol = dict(zip(PAPER_WIDTHS, PAPER_UNPERTURBED_ERRORS["pol"], strict=True))

    def at(scale, table):
        return lambda m, b: scale * table[m] + b

    close = _claims(fig1_module, {"exp": at(1.9, published), "pol": at(0.6, published_pol)})
    assert close["fig1.published_e0"]
    far = _claims(fig1_module, {"exp": at(2.1, published), "pol": at(1.0, published_pol)})
    assert not far["fig1.published_e0"]


def test_fig1_published_beta0_and_crossings_claims_use_a_factor_two():
    # curves meeting in 0.4 (beta/b)^2, blowing past the zero-prediction error 0.9 at
    # beta = 1.5 b: beta_0 = the last grid point below, 0.064 for b = 0.07, 0.256 for b = 0.2
    def meeting(b):
        return lambda m, beta: np.maximum(0.3 / m**2, 0.4 * (beta / b) ** 2)

    near = _claims(fig1_module, {"exp": meeting(0.07), "pol": _unstable}, zero_error=0.9)
    far = _claims(fig1_module, {"exp": meeting(0.2), "pol": _unstable}, zero_error=0.9)
    assert near["fig1.published_beta0"] and not far["fig1.published_beta0"]
    published = [0.11, 0.055, 0.035, 0.016]
    close = _claims(
        fig1_module, {"exp": _stable, "pol": _unstable}, crossings=[1.9 * c for c in published]
    )
    assert close["fig1.published_crossings"]
    shifted = [0.11, 0.055, 0.035, 0.007]  # the last crossing 2.3 times too far left
    off = _claims(fig1_module, {"exp": _stable, "pol": _unstable}, crossings=shifted)
    missing = _claims(
        fig1_module, {"exp": _stable, "pol": _unstable}, crossings=[None, 0.055, 0.035, 0.016]
    )
    assert not off["fig1.published_crossings"] and not missing["fig1.published_crossings"]


def test_fig4_claims_follow_the_paper_and_fail_where_it_is_false():
    paper_like = _claims(fig4_module, {"exp": _stable, "softplus": _stable, "direct": _unstable})
    assert all(paper_like.values()), paper_like
    false = _claims(fig4_module, {"exp": _unstable, "softplus": _unstable, "direct": _stable})
    assert not false["fig4.exp_stable"] and not false["fig4.softplus_stable"]
    assert not false["fig4.direct_unstable"]
    flat = _claims(
        fig4_module, {"exp": _stable, "softplus": _no_approximation, "direct": _unstable}
    )
    assert not flat["fig4.approximation"]
