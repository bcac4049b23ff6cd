"""Stability verdict from width sweeps (SPEC Def 3.5, Remark 3.6)."""

from __future__ import annotations

import numpy as np
import pytest

from curse_of_memory.analysis.curves import PerturbationCurve
from curse_of_memory.analysis.stability import StabilityVerdict, stability_radius
from curse_of_memory.experiments import fig1, fig4

BETAS = np.concatenate([[0.0], 1e-3 * 2.0 ** np.arange(12)])
WIDTHS = (2, 4, 8, 16)


def _curve(width, errors):
    errors = np.asarray(errors, dtype=np.float64)
    return PerturbationCurve(BETAS.copy(), errors, errors[:, None].copy(), width=width)


def test_stable_family():
    # E_m(beta) = e0_m + beta, the same slope for every m: E(beta) is continuous.
    e0 = {m: 0.1 / m for m in WIDTHS}
    curves = [_curve(m, e0[m] + BETAS) for m in WIDTHS]
    verdict = stability_radius(curves, rel_tol=10.0)
    tol = 10 * 0.05  # 10 x max_m E_m(0)
    expected = BETAS[e0[16] + BETAS <= tol].max()  # 0.256 (+0.00625 <= 0.5)
    assert isinstance(verdict, StabilityVerdict)
    assert verdict.tolerance == pytest.approx(tol)
    assert verdict.stable and verdict.continuous_at_zero
    assert verdict.beta0 == pytest.approx(expected)
    assert verdict.verdict == f"stable up to beta_0 = {expected:.3g}"
    # limiting curve = max over the larger half (m = 8, 16) = e0_8 + beta
    assert np.allclose(verdict.limit_errors, e0[8] + BETAS)


def test_unstable_family_crossings_shift_left():
    # E_m(beta) = 0.01 + beta * 10^m: slopes blow up with m, crossings move left.
    curves = {m: _curve(m, 0.01 + BETAS * 10.0**m) for m in WIDTHS}
    verdict = stability_radius(curves, abs_tol=1.0)
    assert not verdict.stable and verdict.beta0 == 0.0
    for m, r in zip(WIDTHS, verdict.radii, strict=True):  # largest beta with E <= 1
        small = 0.01 + BETAS * 10.0**m <= 1.0
        assert r == pytest.approx(BETAS[small].max())
    assert verdict.radii[-1] == 0.0
    assert verdict.verdict.startswith("no stable approximation seen")
    assert not verdict.continuous_at_zero


def test_dict_and_sequence_agree_and_sorting():
    curves = [_curve(m, 0.01 + BETAS * m) for m in WIDTHS]
    a = stability_radius(list(reversed(curves)), abs_tol=0.5)
    b = stability_radius({c.width: c for c in curves}, abs_tol=0.5)
    assert np.array_equal(a.widths, WIDTHS) and np.array_equal(a.radii, b.radii)
    assert a.to_dict()["radii"] == [float(r) for r in b.radii]


def test_bad_input():
    good = _curve(2, 0.01 + BETAS)
    with pytest.raises(ValueError, match="at least 2"):
        stability_radius([good])
    other = PerturbationCurve(BETAS * 2, good.errors, good.sample_errors, width=4)
    with pytest.raises(ValueError, match="different betas"):
        stability_radius([good, other])
    with pytest.raises(ValueError, match="width"):
        stability_radius([good, _curve(None, good.errors)])
    with pytest.raises(ValueError, match="distinct"):
        stability_radius([good, _curve(2, good.errors)])
    with pytest.raises(ValueError, match="NaN"):
        stability_radius([good, _curve(4, np.full(BETAS.shape, np.nan))])
    zero = [_curve(m, np.zeros(BETAS.shape)) for m in (2, 4)]
    with pytest.raises(ValueError, match="abs_tol"):
        stability_radius(zero)
    with pytest.raises(TypeError, match="PerturbationCurve"):
        stability_radius([good, "curve"])


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_fig1_verdicts(preset):
    results = fig1.run(fig1.PRESETS[preset], progress=False)
    assert results["panels"]["exp"]["verdict"]["stable"]
    assert not results["panels"]["pol"]["verdict"]["stable"]


@pytest.mark.parametrize("preset", ["quick", "paper"])
def test_fig4_verdicts(preset):
    results = fig4.run(fig4.PRESETS[preset], progress=False)
    assert results["panels"]["exp"]["verdict"]["stable"]
    assert results["panels"]["softplus"]["verdict"]["stable"]


def test_fig4_least_squares_fit_is_not_fixed_by_reparametrization():
    # Fig 1's least-squares coefficients (~1e8 at m = 14) amplify any c/U perturbation.
    config = fig4.Config(
        widths=(2, 4, 8, 14), fit="least_squares", parametrizations=("exp",), samples=3
    )
    results = fig4.run(config, progress=False)
    assert not results["panels"]["exp"]["verdict"]["stable"]
