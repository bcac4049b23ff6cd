"""Figures 10 and 11, Appendix J and the gated-sup experiment: small runs and their claims."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from curse_of_memory.experiments import EXPERIMENTS, appj, fig10, fig11, gated_sup, run_experiment
from curse_of_memory.experiments._runner import make_config
from curse_of_memory.experiments._units import UnitContext

CONTEXT = UnitContext("test", seed=0)


def _run(tmp_path, name, overrides) -> tuple[dict, dict]:
    run_dir = run_experiment(
        name, out_dir=tmp_path, run_id="r", progress=False, overrides=overrides
    )
    results = json.loads((run_dir / "results.json").read_text())
    claims = {c["id"]: c for c in json.loads((run_dir / "claims.json").read_text())}
    assert (run_dir / "DONE").is_file()
    return results, claims


def test_registered_with_presets():
    for name in ("fig10", "fig11", "appJ", "gated_sup"):
        module = EXPERIMENTS[name]
        assert {"quick", "paper"} <= set(module.PRESETS)
        assert module.units(module.PRESETS["quick"])  # units build without running
    paper = fig10.PRESETS["paper"]
    assert paper.seeds == 20 and paper.rnn_length == 121 and paper.s4d_length == 2001
    assert paper.rnn_layers == (1, 2, 3, 4) and paper.s4d_layers == (1, 2, 3)


# ------------------------------------------------------------------------------ fig10


def test_fig10_small_run(tmp_path):
    overrides = {
        "architectures": ("rnn", "s4d"),
        "rnn_layers": (1,),
        "s4d_layers": (1,),
        "seeds": 2,
        "rnn_length": 61,
        "s4d_length": 201,
    }
    results, claims = _run(tmp_path, "fig10", overrides)
    groups = {(g["architecture"], g["layers"]): g for g in results["groups"]}
    # A one-layer S4D stack is linear: both definitions give |kernel|, exactly.
    s4d = groups[("s4d", 1)]["kinds"]
    np.testing.assert_allclose(
        s4d["heaviside"]["band"]["median"], s4d["impulse"]["band"]["median"], rtol=1e-8
    )
    rnn = groups[("rnn", 1)]["kinds"]
    assert rnn["heaviside"]["seed_laws"] == ["exponential"] * 2
    assert claims["fig10.definitions_agree"]["passed"]


def _fig10_results(laws: tuple[str, str], values: tuple[float, float]) -> dict:
    key = {"exponential": "rate", "polynomial": "exponent"}.get(laws[0], "rate")
    kinds = {}
    for kind, law, value in zip(fig10.KINDS, laws, values, strict=True):
        kinds[kind] = {"median_fit": {"law": law, key: value}, "horizon": 10.0 * value}
    group = {"architecture": "gru", "layers": 1, "kinds": kinds}
    agree, reason = fig10.definitions_agree(
        kinds["heaviside"]["median_fit"],
        kinds["impulse"]["median_fit"],
        2.0,
        (kinds["heaviside"]["horizon"], kinds["impulse"]["horizon"]),
    )
    group["agreement"] = {"agree": agree, "reason": reason, "seed_same_law_fraction": 1.0}
    return {"groups": [group], "rate_factor": 2.0, "input_bound": 1.0, "horizon_level": 0.01}


@pytest.mark.parametrize(
    "laws, values, passed",
    [
        (("exponential", "exponential"), (0.3, 0.5), True),
        (("exponential", "exponential"), (0.2, 0.5), False),  # rates off by 2.5
        (("exponential", "polynomial"), (0.3, 0.3), False),  # different laws
        (("undetermined", "undetermined"), (1.0, 3.0), False),  # horizons off by 3
        (("other", "exponential"), (1.0, 1.5), True),  # no law on one side: horizons
        (("non-decaying", "exponential"), (1.0, 1.0), False),  # one decays, one does not
    ],
)
def test_fig10_claim_fails_on_disagreement(laws, values, passed):
    (claim,) = fig10.claims(_fig10_results(laws, values))
    assert claim.passed is passed


# ------------------------------------------------------------------------------ fig11


def _reference_half_period() -> float:
    """Half the limit-cycle period of dv/dt = (1 - v^2)(-W v), solved here with RK45."""
    weight = -np.array([[1.0, 1.0], [-4.0, -3.0]])

    def crossing(_t, v):
        return v[1]

    crossing.direction = 1.0
    solution = solve_ivp(
        lambda _t, v: (1 - v**2) * (weight @ v),
        (0.0, 300.0),
        [0.3, 0.0],
        rtol=1e-10,
        atol=1e-12,
        events=crossing,
    )
    times = solution.t_events[0]
    return 0.5 * float(np.median(np.diff(times[len(times) // 2 :])))


def test_fig11_periodic_memory_period_matches_an_ode_solve():
    expected = _reference_half_period()
    assert expected == pytest.approx(13.16, abs=0.01)
    record = fig11.periodic_memory_unit(CONTEXT, "official", dt=0.02, t_max=120.0, input_bound=1.0)
    periodicity = record["periodicity"]
    assert periodicity["period"] == pytest.approx(expected, rel=0.01)  # Euler error ~0.6%
    assert periodicity["correlation"] > 0.999
    assert periodicity["amplitude_ratio"] == pytest.approx(1.0, abs=0.02)
    # with eq 3's sign the origin is a stable node with eigenvalues -1, -1
    decaying = fig11.periodic_memory_unit(CONTEXT, "paper", dt=0.02, t_max=60.0, input_bound=1.0)
    assert decaying["fit"]["law"] == "exponential"
    assert decaying["fit"]["rate"] == pytest.approx(1.0, rel=0.1)  # eigenvalue -1 (double)


def test_fig11_small_run(tmp_path):
    overrides = {
        "leaks": (1.0,),
        "seeds": 2,
        "length": 1001,
        "periodic_dt": 0.05,
        "periodic_t_max": 100.0,
        "period_tolerance": 0.03,
    }
    results, claims = _run(tmp_path, "fig11", overrides)
    for model in results["random"]:  # leak 1: W - I is stable, the memory dies out
        values = np.asarray(model["values"])
        assert model["fit"]["law"] != "non-decaying"
        assert values[100:].max() < 1e-8 * values.max()
    assert results["reference"]["orbit_period"] == pytest.approx(
        2 * _reference_half_period(), rel=1e-6
    )
    assert claims["fig11.periodic"]["passed"]
    assert not claims["fig11.non_decaying_exist"]["passed"]  # none among leak-1 networks
    assert not claims["fig11.diverse"]["passed"]


def _fig11_results(period: float, laws: list[str]) -> dict:
    random_models = [{"leak": 0.0, "fit": {"law": law}} for law in laws]
    periodicity = {"period": period, "correlation": 0.9999, "amplitude_ratio": 1.0}
    return {
        "input_bound": 1.0,
        "random": random_models,
        "periodic": {
            "official": {"periodicity": periodicity},
            "paper": {"fit": {"law": "exponential"}},
        },
        "reference": {"orbit_period": 26.32},
        "thresholds": {
            "min_correlation": 0.99,
            "min_amplitude_ratio": 0.9,
            "period_tolerance": 0.02,
        },
    }


def test_fig11_claims_fail_on_constructed_inputs():
    good = {
        c.id: c.passed for c in fig11.claims(_fig11_results(13.2, ["exponential", "non-decaying"]))
    }
    assert all(good.values())
    bad = {
        c.id: c.passed for c in fig11.claims(_fig11_results(14.0, ["exponential", "exponential"]))
    }
    assert not any(bad.values())  # period 6% off; no non-decaying memory; one law only


# ------------------------------------------------------------------------------- appJ


def test_appj_random_gru_rates_match_the_linearisation():
    record = appj.gru_unit(
        CONTEXT,
        "random-bh0",
        None,
        model_seed=3,
        hidden_size=4,
        dt=1.0,
        length=151,
        input_bound=1.0,
        heaviside_inputs=5,
    )
    model = appj._new_gru(4, 1.0, 3, zero_candidate_bias=True)
    bias = (model.bias_ih + model.bias_hh).detach().numpy()
    sig = 1.0 / (1.0 + np.exp(-bias))
    u_h = model.weight_hh.detach().numpy()[8:]
    eq144 = np.diag(sig[4:8]) @ (u_h @ np.diag(sig[:4]) - np.eye(4))  # paper eq 144
    lam = np.linalg.eigvals(eq144)
    assert record["eq144_abscissa"] == pytest.approx(lam.real.max(), abs=1e-12)
    assert record["b_h_max_abs"] == 0.0 and record["jacobian_vs_eq144"] < 1e-12
    euler_rate = -math.log(np.abs(1 + lam).max())  # the discrete GRU: dt = 1
    assert record["measured"]["impulse"]["tail_rate"] == pytest.approx(euler_rate, rel=0.1)


def test_appj_small_run_with_training(tmp_path):
    overrides = {
        "hidden_size": 4,
        "random_seeds": 1,
        "trained_seeds": 1,
        "targets": ("exp",),
        "memory_t_max": 100.0,
        "train_samples": 64,
        "train_length": 16,
        "epochs": 2,
        "heaviside_inputs": 5,
    }
    results, claims = _run(tmp_path, "appJ", overrides)
    keys = [m["key"] for m in results["models"]]
    assert keys == ["random-bh0/seed0", "random/seed0", "trained/exp/seed0"]
    trained = results["models"][-1]
    assert trained["training"]["epochs_run"] == 2 and not trained["training"]["diverged"]
    assert set(claims) == {
        "appJ.eq144_hurwitz_random",
        "appJ.eq144_hurwitz_trained",
        "appJ.impulse_rate_matches",
        "appJ.bh_nonzero",
        "appJ.heaviside_rate",
    }
    assert claims["appJ.eq144_hurwitz_random"]["passed"]
    assert claims["appJ.impulse_rate_matches"]["passed"]


def _appj_model(key: str, source: str, abscissa: float, measured: float) -> dict:
    return {
        "key": key,
        "source": source,
        "target": "exp" if source == "trained" else None,
        "b_h_max_abs": 0.3,
        "equilibrium_norm": 0.3,
        "eq144_eigenvalues": [[abscissa, 0.0]],
        "eq144_abscissa": abscissa,
        "jacobian_abscissa": abscissa,
        "predicted_impulse_rate": 0.3,
        "predicted_heaviside_rate": 0.3,
        "predicted_impulse_frequency": 0.0,
        "predicted_heaviside_frequency": 0.0,
        "eq144_rate": 0.3,
        "slowest_input": 1.0,
        "equilibrium_residual": 1e-15,
        "max_equilibrium_residual": 1e-15,
        "measured": {"impulse": {"tail_rate": measured}, "heaviside": {"tail_rate": measured}},
    }


def test_appj_claims_fail_on_constructed_inputs():
    good = [
        _appj_model("random/seed0", "random", -0.3, 0.31),
        _appj_model("trained/exp/seed0", "trained", -0.3, 0.29),
    ]
    results = {"models": good, "rate_tolerance": 0.1, "input_bound": 1.0, "dt": 0.1}
    assert all(c.passed for c in appj.claims(results))
    bad = [
        _appj_model("random/seed0", "random", 0.05, 0.4),
        _appj_model("trained/exp/seed0", "trained", 0.02, 0.4),
    ]
    verdicts = {c.id: c.passed for c in appj.claims({**results, "models": bad})}
    assert not any(verdicts.values()), verdicts  # not Hurwitz; rates 33% off


# -------------------------------------------------------------------------- gated sup


def test_gated_sup_small_run(tmp_path):
    overrides = {
        "architectures": ("gru",),
        "seeds": 1,
        "length": 201,
        "bounds": (1.0, 10.0, math.inf),
    }
    results, claims = _run(tmp_path, "gated_sup", overrides)
    per_bound = results["networks"][0]["bounds"]
    bounded, free = (np.asarray(per_bound[b]["values"]) for b in ("1", "inf"))
    assert np.all(free >= bounded * (1 - 1e-12))  # a sup over a larger set of inputs
    assert per_bound["1"]["fit"]["law"] == "exponential"
    assert free[-1] > 1e6 * max(bounded[-1], 1e-300)  # saturated gates: far slower decay
    assert claims["gated_sup.bounded_exponential"]["passed"]
    assert set(claims) == {
        "gated_sup.bounded_exponential",
        "gated_sup.unrestricted_heavy_tail",
        "gated_sup.growing_maximiser",
    }


def _gated_results(bounded_law: str, free_law: str, late_scale: float) -> dict:
    t = list(range(40))
    scales = [0.5] * 10 + list(np.linspace(0.5, late_scale, 30))
    record = {"fit": {"law": free_law}, "maximizer_scale": scales, "t": t}
    network = {"bounds": {"1": {"fit": {"law": bounded_law}}, "inf": record}}
    return {"bounds": ["1", "inf"], "networks": [copy.deepcopy(network) for _ in range(5)]}


def test_gated_sup_claims_fail_on_constructed_inputs():
    assert all(
        c.passed for c in gated_sup.claims(_gated_results("exponential", "polynomial", 30.0))
    )
    assert not any(
        c.passed for c in gated_sup.claims(_gated_results("polynomial", "exponential", 0.9))
    )


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name, overrides, match",
    [
        ("fig10", {"architectures": ("rnn", "tcn")}, "architecture"),
        ("fig10", {"rnn_layers": (1, 1)}, "distinct"),
        ("fig10", {"input_bound": 0.0}, "input_bound"),
        ("fig11", {"length": 500}, "length"),
        ("fig11", {"periodic_dt": 0.1}, "periodic_dt"),
        ("appJ", {"targets": ("sine",)}, "target"),
        ("appJ", {"input_bound": math.inf}, "finite"),
        ("gated_sup", {"bounds": (1.0, 10.0)}, "inf"),
        ("gated_sup", {"bounds": (10.0, 1.0, math.inf)}, "increasing"),
    ],
)
def test_bad_configs_are_refused_before_work(name, overrides, match):
    with pytest.raises(ValueError, match=match):
        make_config(name, "quick", overrides)


def test_random_networks_are_seeded_and_float64():
    a = fig10.random_network("lstm", 2, seed=5)
    b = fig10.random_network("lstm", 2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.num_layers == 2 and next(a.parameters()).dtype == torch.float64
