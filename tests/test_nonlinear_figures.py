"""The nonlinear figures (2, 3, 7, 8, 12): student units, tiny runs, claims, bad input."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from curse_of_memory.analysis import PerturbationCurve
from curse_of_memory.experiments import (
    EXPERIMENTS,
    _student_targets,
    _students,
    fig2,
    fig3,
    fig7,
    fig8,
    fig12,
    run_experiment,
)
from curse_of_memory.experiments._students import StudentProtocol, protocol_params
from curse_of_memory.experiments._units import UnitContext
from curse_of_memory.models import ContinuousRNN
from curse_of_memory.targets import RandomTransformerTeacher

NONLINEAR = ("fig2", "fig3", "fig7", "fig8", "fig12")

# A still smaller protocol than the quick presets: seconds per experiment.
TINY = {
    "widths": (2, 3, 4),
    "epochs": 2,
    "n_train": 32,
    "n_val": 8,
    "n_test": 16,
    "length": 12,
    "memory_length": 16,
    "betas": (0.0, 1e-6, 1e-3, 0.1),
    "samples": 1,
}
TINY_EXTRA = {
    "fig3": {"n_teachers": 2, "teacher_width": 8},
    "fig12": {"d_model": 4, "dim_feedforward": 8},
}
CLAIM_IDS = {
    "fig2": {"fig2.approximation", "fig2.no_stable_approximation", "fig2.eigenvalues_to_zero"},
    "fig3": {"fig3.kept_teachers_exponential"},
    "fig7": {
        "fig7.relu_direct_approximation",
        "fig7.relu_direct_unstable",
        "fig7.relu_softplus_stable",
    },  # fmt: skip
    "fig8": {
        "fig8.hardtanh_softplus_stable",
        "fig8.tanh_softplus_stable",
        "fig8.tanh_direct_approximation",
        "fig8.tanh_direct_unstable",
    },  # fmt: skip
    "fig12": {"fig12.teacher_memory_not_decaying", "fig12.no_stable_approximation"},
}


@pytest.mark.parametrize("name", NONLINEAR)
def test_tiny_run_writes_results_claims_and_figure(tmp_path, name):
    overrides = {**TINY, **TINY_EXTRA.get(name, {})}
    run_dir = run_experiment(name, out_dir=tmp_path, run_id="r", progress=False,
                             overrides=overrides)  # fmt: skip
    for file in ("results.json", "claims.json", "curves.csv", "figure.png", "DONE"):
        assert (run_dir / file).is_file(), file
    results = json.loads((run_dir / "results.json").read_text())
    claims = json.loads((run_dir / "claims.json").read_text())
    assert {c["id"] for c in claims} == CLAIM_IDS[name]
    for panel in results["panels"].values():
        assert panel["widths"] == [2, 3, 4]
        assert [c["width"] for c in panel["curves"]] == [2, 3, 4]
        for curve in panel["curves"]:  # E_m(beta) is a running max: non-decreasing
            assert np.all(np.diff(curve["errors"]) >= 0)
        assert isinstance(panel["verdict"]["stable"], bool)
        for result in (u for units in panel["units"].values() for u in units):
            assert result["training"]["epochs_run"] == 2
            assert len(result["eigenvalues"]["real"]) == result["width"]
            assert result["max_re_eigenvalue"] == max(result["eigenvalues"]["real"])
            assert len(result["memory"]["values"]) == 16
            assert result["memory"]["input_bound"] == 1.0
    with open(run_dir / "curves.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * 3 * len(results["panels"])


def test_student_unit_resumes_mid_training_to_the_same_result(tmp_path, monkeypatch):
    config = fig2.Config(**{**TINY, "epochs": 6, "checkpoint_every": 1})
    params = {
        "target": config.target,
        "width": 3,
        "parametrization": "direct",
        "activation": "tanh",
        "protocol": protocol_params(config),
    }
    straight = _students.train_student(UnitContext("u", 11), **params)

    real_train = _students.train

    def interrupted_after_epoch_4(*args, **kwargs):
        def stop(epoch, result):
            if epoch == 4:
                raise KeyboardInterrupt

        return real_train(*args, callback=stop, **kwargs)

    context = UnitContext("u", 11, checkpoint_dir=tmp_path / "u")
    monkeypatch.setattr(_students, "train", interrupted_after_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        _students.train_student(context, **params)
    assert (tmp_path / "u" / "train.pt").is_file()
    monkeypatch.setattr(_students, "train", real_train)
    resumed = _students.train_student(context, **params)
    for key in ("train_losses", "val_losses", "epochs_run", "best_epoch"):
        assert resumed["training"][key] == straight["training"][key], key
    assert resumed["curve"]["errors"] == straight["curve"]["errors"]
    assert resumed["eigenvalues"] == straight["eigenvalues"]
    assert resumed["memory"]["values"] == straight["memory"]["values"]


def test_student_unit_measures_the_trained_model():
    """Eigenvalues, E_m(0) and output variance against direct recomputation."""
    config = fig2.Config(**TINY)
    protocol = StudentProtocol(**protocol_params(config))
    result = _students.train_student(
        UnitContext("u", 3),
        target=config.target,
        width=4,
        parametrization="softplus",
        activation="tanh",
        protocol=protocol_params(config),
    )
    # softplus eigenvalues are negative; direct recomputation of the test targets' variance
    assert max(result["eigenvalues"]["real"]) < 0
    _, y_test = _student_targets.student_dataset(config.target, protocol).test
    assert result["output_variance"] == pytest.approx(float(y_test.var(0, unbiased=False).mean()))
    assert result["test_loss"] == result["curve"]["errors"][0]
    assert result["initial_max_re_eigenvalue"] <= -protocol.init_decay_range[0] + 1e-6


# ------------------------------------------------------------------- claims on fake data
BETAS = np.concatenate([[0.0], np.logspace(-14, 0, 29)])  # resolves the crossings below


def _fake_unit(width, errors, max_re=-0.1, initial_max_re=-0.5):
    errors = np.maximum.accumulate(np.asarray(errors, dtype=float))
    curve = PerturbationCurve(BETAS, errors, errors[:, None], width=width)
    return {
        "curve": curve.to_dict(),
        "val_loss": float(errors[0]),
        "seed": 0,
        "test_loss": float(errors[0]),
        "output_variance": 1.0,
        "zero_error": 1.0,
        "max_re_eigenvalue": max_re,
        "initial_max_re_eigenvalue": initial_max_re,
        "decay": {"law": "exponential", "short": "exp, rate 0.5"},
        "training": {"epochs_run": 1, "diverged": False},
    }


def _stable_family(width):
    """E_m(beta) = 1e-3/m + beta: the limit beta is continuous at 0 (stable)."""
    return 1e-3 / width + BETAS


def _unstable_family(width):
    """E_m(beta) = 1e-3/m + beta m^4: every beta > 0 blows up with m (unstable)."""
    return 1e-3 / width + BETAS * width**4


def _not_approximating(width):
    """E_m(0) grows with m."""
    return 1e-3 * width + BETAS


def _fake_results(module, config, family, teacher_law="exponential"):
    results = {}
    for unit in module.units(config):
        if unit.key.endswith("/memory"):
            memory = {"t": [0.0, 1.0], "values": [1.0, 0.5], "input_bound": 1.0}
            decay = {"law": teacher_law, "short": teacher_law}
            results[unit.key] = {"memory": memory, "decay": decay}
            continue
        width = unit.params["width"]
        stable_panel = unit.params["parametrization"] in ("softplus", "exp", "inverse")
        results[unit.key] = _fake_unit(width, family(width, stable_panel))
    return module.assemble(config, results)


def _passed(module, results):
    return {c.id: c.passed for c in module.claims(results)}


def test_fig2_claims_hold_on_an_unstable_family_and_fail_where_the_paper_is_false():
    config = fig2.Config(widths=(4, 8, 16, 64))
    results = _fake_results(fig2, config, lambda m, _: _unstable_family(m))
    panel = results["panels"]["tanh-direct"]
    panel["max_re_eigenvalues"] = [-0.3, -0.1, -0.03, -0.01]  # initial: -0.5 at every m
    assert _passed(fig2, results) == {
        "fig2.approximation": True,
        "fig2.no_stable_approximation": True,
        "fig2.eigenvalues_to_zero": True,
    }
    stable = _fake_results(fig2, config, lambda m, _: _stable_family(m))
    assert not _passed(fig2, stable)["fig2.no_stable_approximation"]
    worse = _fake_results(fig2, config, lambda m, _: _not_approximating(m))
    assert not _passed(fig2, worse)["fig2.approximation"]
    # near a floor: E_m(0) improves by less than the required factor 2 and the curves
    # never cross (verdict stable). The instability claim must not pass just because
    # the approximation claim failed.
    floor = _fake_results(fig2, config, lambda m, _: 2e-8 * m**-0.2 + BETAS)
    (panel,) = floor["panels"].values()
    assert panel["verdict"]["stable"]
    passed = _passed(fig2, floor)
    assert not passed["fig2.approximation"] and not passed["fig2.no_stable_approximation"]
    # the slowest mode moves away from 0 as m grows
    away = _fake_results(fig2, config, lambda m, _: _unstable_family(m))
    away["panels"]["tanh-direct"]["max_re_eigenvalues"] = [-0.01, -0.03, -0.1, -0.3]
    assert not _passed(fig2, away)["fig2.eigenvalues_to_zero"]
    # closer to 0 with m only because of the initialisation, not moved by training
    init = _fake_results(fig2, config, lambda m, _: _unstable_family(m))
    init["panels"]["tanh-direct"]["max_re_eigenvalues"] = [-0.3, -0.1, -0.03, -0.01]
    init["panels"]["tanh-direct"]["initial_max_re_eigenvalues"] = [-0.3, -0.1, -0.03, -0.005]
    assert not _passed(fig2, init)["fig2.eigenvalues_to_zero"]


@pytest.mark.parametrize("module", [fig7, fig8])
def test_parametrization_claims_follow_the_families(module):
    config = module.Config()
    paper = _fake_results(
        module, config, lambda m, stable: _stable_family(m) if stable else _unstable_family(m)
    )
    assert all(_passed(module, paper).values())
    swapped = _fake_results(
        module, config, lambda m, stable: _unstable_family(m) if stable else _stable_family(m)
    )
    outcome = _passed(module, swapped)
    assert not any(v for k, v in outcome.items() if k.endswith(("_stable", "_unstable")))
    # a flat curve at a large, non-improving error is not a stable approximation
    flat = _fake_results(module, config, lambda m, stable: 0.5 + 0 * BETAS)
    outcome = _passed(module, flat)
    assert not any(v for k, v in outcome.items() if k.endswith(("_stable", "_approximation")))


def test_fig3_claim_needs_kept_teachers_that_all_decay_exponentially():
    config = fig3.Config(n_teachers=3)
    stable = _fake_results(fig3, config, lambda m, _: _stable_family(m))
    assert [t["kept"] for t in stable["teachers"]] == [True] * 3
    assert _passed(fig3, stable) == {"fig3.kept_teachers_exponential": True}
    polynomial = _fake_results(fig3, config, lambda m, _: _stable_family(m),
                               teacher_law="polynomial")  # fmt: skip
    assert _passed(fig3, polynomial) == {"fig3.kept_teachers_exponential": False}
    none_kept = _fake_results(fig3, config, lambda m, _: _unstable_family(m))
    assert not any(t["kept"] for t in none_kept["teachers"])
    assert _passed(fig3, none_kept) == {"fig3.kept_teachers_exponential": False}
    assert "kept 0 of 3" in fig3.summary(none_kept)[0]


def test_fig12_claims_fail_for_a_decaying_teacher_or_a_stable_fit():
    config = fig12.Config()
    paper = _fake_results(fig12, config, lambda m, _: _unstable_family(m),
                          teacher_law="undetermined")  # fmt: skip
    assert all(_passed(fig12, paper).values())
    exponential = _fake_results(fig12, config, lambda m, _: _unstable_family(m),
                                teacher_law="exponential")  # fmt: skip
    assert not _passed(fig12, exponential)["fig12.teacher_memory_not_decaying"]
    stable = _fake_results(fig12, config, lambda m, _: _stable_family(m),
                           teacher_law="undetermined")  # fmt: skip
    assert not _passed(fig12, stable)["fig12.no_stable_approximation"]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("name", "overrides", "pattern"),
    [
        ("fig2", {"activation": "sigmoid"}, "activation 'sigmoid'.*hardtanh, relu, tanh"),
        ("fig2", {"widths": (8, 4, 16)}, "strictly ascending"),
        ("fig2", {"widths": (8, 16)}, "at least 3"),
        ("fig7", {"parametrizations": ("direct", "magic")}, "parametrization 'magic'"),
        ("fig8", {"parametrization": "direct"}, "must be a stable one"),
        ("fig8", {"control_activation": "linear"}, "control_activation 'linear'"),
        ("fig3", {"n_teachers": 0}, "n_teachers"),
        ("fig3", {"teacher_cell": "torch"}, "must all be 0 with teacher_cell='torch'"),
        ("fig3", {"teacher_cell": "lstm"}, "teacher_cell 'lstm'"),
        ("fig12", {"positional": "learned"}, "positional 'learned'"),
        ("fig2", {"betas": (1e-3, 1e-2)}, "start at 0"),
        ("fig2", {"training": "fast"}, "training 'fast'"),
        ("fig2", {"norm": "2"}, "norm '2'"),
        ("fig2", {"init_decay_range": (1.0, 0.1)}, "low <= high"),
    ],
)
def test_bad_config_is_refused_before_any_work(tmp_path, name, overrides, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        run_experiment(name, out_dir=tmp_path, overrides=overrides, progress=False)
    assert not (tmp_path / name).exists()


def test_a_zero_memory_has_no_decay_law():
    silent = ContinuousRNN(3)
    with torch.no_grad():
        silent.readout.weight.zero_()  # the output ignores the input
    memory = _students.memory_of(silent, StudentProtocol(memory_length=9))
    assert _students.decay_law_of(memory) == {
        "law": "undetermined",
        "short": "zero memory",
        "reason": "the memory is 0 at every t (the model does not respond to the input)",
    }


def test_teacher_targets_are_zero_input_adjusted_and_scaled():
    spec = {"kind": "rnn_teacher", "hidden_size": 6, "seed": 2, "activation": "tanh"}
    target = _student_targets.build_target(spec, dt=0.1, length=15)
    x = 0.1 * torch.randn(300, 15, 1, dtype=torch.float64)
    zero = torch.zeros(1, 15, 1, dtype=torch.float64)
    expected = (target.teacher(x) - target.teacher(zero)) / target.scale
    assert torch.equal(target(x), expected)
    assert target(zero).abs().max() == 0 and target.teacher(zero).abs().max() > 1e-3
    assert 0.8 < float(target(x).std()) < 1.2  # unit size on the protocol's inputs


def test_bad_target_description_is_refused():
    with pytest.raises(ValueError, match="target kind 'lstm_teacher'"):
        _student_targets.check_target({"kind": "lstm_teacher"})
    with pytest.raises(TypeError, match="'kind' key"):
        _student_targets.check_target({"name": "pol"})


def test_registry_lists_the_nonlinear_figures_with_presets():
    for name in NONLINEAR:
        assert {"quick", "paper"} <= set(EXPERIMENTS[name].PRESETS)
    paper = fig2.PRESETS["paper"]
    assert paper.widths == (4, 8, 16, 64) and paper.epochs == 1000 and paper.samples == 3
    assert paper.betas[0] == 0 and len(paper.betas) == 37
    assert paper.betas[-1] == pytest.approx(1e-11 * 2**35)
    assert fig8.PRESETS["paper"].widths == (8, 16, 32, 64)
    assert fig3.PRESETS["paper"].teacher_width == 256
    assert fig3.PRESETS["paper"].betas[1] == 1e-10


# ------------------------------------------------------------------ transformer teacher
def test_transformer_positions_make_constant_inputs_vary_and_stay_causal():
    x = torch.ones(2, 20, 1, dtype=torch.float64)
    plain = RandomTransformerTeacher(d_model=4, dim_feedforward=8, seed=1)
    out = plain(x)
    assert torch.allclose(out, out[:, :1].expand_as(out))  # no positions: constant output
    teacher = RandomTransformerTeacher(d_model=4, dim_feedforward=8, seed=1,
                                       positional="sinusoidal")  # fmt: skip
    out = teacher(x)
    assert out[0, :, 0].std() > 1e-3
    later = x.clone()
    later[:, 10:] = -3.0
    assert torch.equal(teacher(later)[:, :10], out[:, :10])  # causal


def test_sinusoidal_positions_match_the_formula():
    from curse_of_memory.targets.teachers import _sinusoidal_positions

    encoding = _sinusoidal_positions(7, 5, torch.zeros(1, dtype=torch.float64))
    for k in range(7):
        for i in range(5):
            frequency = 10000.0 ** (-(i - i % 2) / 5)
            expected = math.sin(k * frequency) if i % 2 == 0 else math.cos(k * frequency)
            assert encoding[k, i].item() == pytest.approx(expected, abs=1e-12)
