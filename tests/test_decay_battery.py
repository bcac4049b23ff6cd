"""fit_decay on the battery of curves with known laws (``analysis.decay.battery``)."""

from __future__ import annotations

import pytest

from curse_of_memory.analysis.decay import LAWS, fit_decay
from curse_of_memory.analysis.decay.battery import known_curves

CURVES = known_curves()


@pytest.mark.parametrize("curve", CURVES, ids=[curve.name for curve in CURVES])
def test_known_curve_gets_its_law(curve):
    fit = fit_decay(curve.curve())
    assert fit.law == curve.law, fit.summary()
    if curve.parameter is not None:
        found = fit.rate if fit.law == "exponential" else fit.exponent
        assert found == pytest.approx(curve.parameter, rel=curve.rel_tol), fit.summary()
    if fit.law in ("exponential", "polynomial"):  # the drawn law follows the tail
        t, values = curve.curve()
        last_quarter = (t >= fit.window[1] - (fit.window[1] - fit.window[0]) / 4) & (
            t <= fit.window[1]
        )
        ratio = values[last_quarter].max() / fit.predict(t[last_quarter]).max()
        assert 0.5 < ratio < 2.0, fit.summary()
    if fit.law != "undetermined":  # every deciding test passed its threshold
        assert fit.margin >= 1.0, fit.summary()
    else:
        assert fit.margin is None and fit.reason


def test_battery_covers_every_law_and_kind_of_curve():
    assert len(CURVES) >= 25
    assert {curve.law for curve in CURVES} == set(LAWS)
    groups = {curve.group for curve in CURVES}
    assert {"pure", "offset", "window", "sum", "stretched", "periodic", "constant", "noise",
            "floor"} <= groups  # fmt: skip
    assert len({curve.name for curve in CURVES}) == len(CURVES)
