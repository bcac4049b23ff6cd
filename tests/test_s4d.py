"""S4D-style diagonal state-space layer and stack: against an explicit state recurrence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curse_of_memory import memory_function
from curse_of_memory.models import DiagonalSSM, S4DModel, build_model


def _recurrence(layer: DiagonalSSM, u: np.ndarray) -> np.ndarray:
    """x_{k+1} = Abar x_k + Bbar u_k, y_k = 2 Re(C x_{k+1}) + D u_k in complex128 numpy."""
    a = -np.exp(layer.log_decay.detach().numpy()) + 1j * layer.frequency.detach().numpy()
    step = np.exp(layer.log_step.detach().numpy())[:, None]
    a_bar = np.exp(step * a)  # ZOH
    b_bar = (a_bar - 1.0) / a
    weight = layer.output_weight.detach().numpy()
    c = weight[..., 0] + 1j * weight[..., 1]
    skip = layer.skip.detach().numpy()
    batch, length, _ = u.shape
    state = np.zeros((batch,) + a.shape, dtype=np.complex128)
    out = np.empty_like(u)
    for k in range(length):
        state = a_bar * state + b_bar * u[:, k, :, None]
        out[:, k] = 2.0 * (c * state).sum(-1).real + skip * u[:, k]
    return out


def test_fft_convolution_equals_state_recurrence():
    torch.manual_seed(0)
    layer = DiagonalSSM(channels=3, state_size=8, dt_min=1e-2, dt_max=0.5).double()
    u = torch.randn(2, 300, 3, dtype=torch.float64)
    expected = _recurrence(layer, u.numpy())
    got = layer(u).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


def test_one_layer_model_is_linear_and_its_memory_is_the_kernel():
    torch.manual_seed(1)
    model = S4DModel(input_size=1, channels=4, num_layers=1, state_size=8).double()
    # impulse response of the whole model from the explicit recurrence
    w = model.encoder.weight.detach().numpy()[:, 0]  # (H,)
    impulse = np.zeros((1, 200, 4))
    impulse[0, 0] = w
    rho = np.abs(_recurrence(model.layers[0], impulse)[0]).max(-1)  # max over output channels
    for kind in ("heaviside", "impulse"):
        memory = memory_function(model, 200, 1.0, kind=kind)
        np.testing.assert_allclose(memory.values, rho, rtol=1e-7, atol=1e-12)


def test_nonlinearity_only_between_layers():
    torch.manual_seed(2)
    x = torch.randn(1, 40, 1, dtype=torch.float64)
    one = S4DModel(channels=4, num_layers=1, state_size=8).double()
    with torch.no_grad():
        one.encoder.bias.zero_()
        assert torch.allclose(one(2 * x), 2 * one(x), atol=1e-12)  # linear
    two = S4DModel(channels=4, num_layers=2, state_size=8).double()
    with torch.no_grad():
        two.encoder.bias.zero_()
        assert not torch.allclose(two(2 * x), 2 * two(x), atol=1e-6)  # GELU in between
    decoded = S4DModel(channels=4, num_layers=2, state_size=8, output_size=3).double()
    assert decoded(x).shape == (1, 40, 3)


def test_init_is_s4d_lin_and_config_round_trips():
    torch.manual_seed(3)
    model = S4DModel(input_size=2, channels=5, num_layers=2, state_size=6, dt_min=0.01, dt_max=0.02)
    a = model.layers[0].eigenvalues()
    np.testing.assert_allclose(a.real.detach().numpy(), -0.5)
    np.testing.assert_allclose(a.imag.detach().numpy()[0], np.pi * np.arange(3), rtol=1e-6)
    steps = torch.exp(model.layers[1].log_step)
    assert bool(((steps >= 0.01 - 1e-9) & (steps <= 0.02 + 1e-9)).all())
    rebuilt = build_model(model.config())
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 10, 2)
    assert torch.equal(rebuilt(x), model(x))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"state_size": 5}, "state_size must be an even"),
        ({"dt_min": 0.1, "dt_max": 0.01}, "dt_max must be >= dt_min"),
        ({"nonlinearity": "swish"}, "nonlinearity"),
        ({"num_layers": 0}, "num_layers"),
        ({"output_size": 0}, "output_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        S4DModel(**kwargs)
