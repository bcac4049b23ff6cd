"""Tests for curse_of_memory.analysis.perturbation (perturbation error E_m(beta), paper eq 11)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from curse_of_memory.analysis.perturbation import (
    custom_loss,
    impulse_response_loss,
    mse_loss,
    paper_betas,
    perturbation_error,
    sobolev_loss,
    twe_mse_loss,
)
from curse_of_memory.models import ContinuousRNN
from curse_of_memory.targets.linear import LinearFunctional

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ----------------------------------------------------------------------------- test models
class NegSoftplus(nn.Module):
    """Parametrization ``weight = -softplus(raw)`` (always negative)."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return -nn.functional.softplus(raw)


class DecayModel(nn.Module):
    """``h_{k+1} = exp(lambda dt) h_k + x_k``, ``y_k = mean(h_{k+1})``; lambda = rates.weight.

    With ``stable=True`` the rate weight is parametrized as ``-softplus(raw)``, so every raw
    weight gives a decay factor in (0, 1]; with ``stable=False`` lambda is the raw weight.
    The readout is a fixed buffer (not trainable, not perturbed).
    """

    def __init__(self, m: int, stable: bool, dt: float = 1.0) -> None:
        super().__init__()
        self.dt = dt
        rates = torch.linspace(0.2, 1.0, m, dtype=F64).unsqueeze(1)  # (m, 1)
        self.rates = nn.Linear(1, m, bias=False, dtype=F64)
        with torch.no_grad():
            self.rates.weight.copy_(-rates)
        if stable:
            parametrize.register_parametrization(self.rates, "weight", NegSoftplus())
            with torch.no_grad():  # raw weights w with -softplus(w) = -rates
                self.rates.parametrizations.weight.original.copy_(torch.log(torch.expm1(rates)))
        self.register_buffer("readout", torch.full((m,), 1.0 / m, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        decay = torch.exp(self.rates.weight[:, 0] * self.dt)  # (m,)
        h = x.new_zeros(x.shape[0], decay.shape[0])
        states = []
        for k in range(x.shape[1]):
            h = decay * h + x[:, k]  # (batch, m)
            states.append(h)
        return (torch.stack(states, dim=1) @ self.readout).unsqueeze(-1)  # (batch, T, 1)


class InplaceModel(nn.Module):
    """Linear map with in-place ops on its own (batched) activations."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.shift = nn.Parameter(torch.tensor([0.5, -0.25, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        y.mul_(2.0)
        y.add_(self.shift)
        return torch.tanh_(y)


class ItemModel(nn.Module):
    """Calls ``.item()`` in its forward: vmap cannot batch it (tests the loop fallback)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gain = 2.0 if self.lin.weight.abs().max().item() > 0 else 1.0
        return gain * self.lin(x)


class ParamProbe(nn.Module):
    """Outputs its own parameters (flattened): lets a loss read the perturbation."""

    def __init__(self) -> None:
        super().__init__()
        self.matrix = nn.Parameter(_randn(3, 4, seed=5))
        self.vector = nn.Parameter(_randn(5, seed=6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = torch.cat([self.matrix.reshape(-1), self.vector])
        return flat.reshape(1, -1, 1) + 0 * x[:1, :1, :1]


class KernelModel(nn.Module):
    """Discrete linear functional ``y_k = sum_{j<=k} kernel_j x_{k-j}`` with a trainable kernel.

    Computed by a dense lower-triangular Toeplitz matrix (independent of the FFT used by
    LinearFunctional).
    """

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.kernel = nn.Parameter(kernel.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        lag = torch.arange(length).unsqueeze(1) - torch.arange(length).unsqueeze(0)  # k - j
        toeplitz = torch.where(lag >= 0, self.kernel[lag.clamp(min=0)], 0.0)  # (T, T)
        return (x[..., 0] @ toeplitz.T).unsqueeze(-1)


def _parametrized_linear() -> nn.Module:
    lin = nn.Linear(2, 3).double()
    parametrize.register_parametrization(lin, "weight", NegSoftplus())
    return lin


# ----------------------------------------------------------------------------- references
def _reference_noise(model: nn.Module, beta: float, norm: str, gen: torch.Generator) -> dict:
    """The documented draw: one randn of all trainable entries, split in parameter order,
    each tensor scaled to norm beta (norms computed here with numpy)."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    xi = torch.randn(sum(p.numel() for _, p in params), generator=gen, dtype=F64)
    noise, start = {}, 0
    for name, p in params:
        block = xi[start : start + p.numel()].reshape(p.shape).numpy()
        start += p.numel()
        # paper norm of a diagonal W = diag(w): spectral norm of diag(delta) = max |delta_i|
        diagonal = name.endswith("eigenvalues.original") and getattr(model, "structure", "") in (
            "diagonal",
            "symmetric",
        )
        if norm == "inf" or diagonal:
            size = np.abs(block).max()
        elif block.ndim >= 2:
            size = np.linalg.norm(block.reshape(block.shape[0], -1), ord=2)  # spectral
        else:
            size = np.linalg.norm(block.reshape(-1))  # Euclidean
        noise[name] = torch.from_numpy(beta * block / size)
    return noise


def _reference_sample_errors(model, x, y, betas, samples, seed, norm) -> np.ndarray:
    """One perturbed deep copy at a time, evaluated with the model's own forward."""
    gen = torch.Generator().manual_seed(seed)
    out = np.empty((len(betas), samples))
    for i, beta in enumerate(betas):
        for s in range(samples):
            copy_ = copy.deepcopy(model)
            if beta > 0:
                noise = _reference_noise(copy_, beta, norm, gen)
                with torch.no_grad():
                    for name, p in copy_.named_parameters():
                        if p.requires_grad:
                            p.add_(noise[name].to(p.dtype))
            with torch.no_grad():
                pred = copy_(x)
                pred = pred[0] if isinstance(pred, tuple) else pred
                out[i, s] = float(((pred - y) ** 2).mean())
    return out


def _models():
    torch.manual_seed(0)
    return {
        "rnn": (nn.RNN(2, 3, batch_first=True).double(), 3),
        "rnn_relu_2layer": (
            nn.RNN(2, 3, num_layers=2, nonlinearity="relu", batch_first=True).double(),
            3,
        ),
        "gru_bidirectional": (nn.GRU(2, 3, bidirectional=True, batch_first=True).double(), 6),
        "lstm_time_first": (nn.LSTM(2, 3, num_layers=2).double(), 3),
        "sequential": (nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double(), 1),
        "parametrized": (_parametrized_linear(), 3),
        "inplace": (InplaceModel().double(), 3),
    }


# ----------------------------------------------------------------------------- paper_betas
def test_paper_betas_lists():
    linear, nonlinear, official = (paper_betas(k) for k in ("linear", "nonlinear", "official"))
    assert linear.shape == (22,) and linear[0] == 0 and linear[1] == 5e-4
    assert linear[-1] == pytest.approx(524.288, rel=1e-12)
    assert nonlinear.shape == (37,) and nonlinear[1] == 1e-11
    assert nonlinear[-1] == pytest.approx(1e-11 * 2**35, rel=1e-12)
    assert official.shape == (22,) and official[2] == pytest.approx(1e-3 * math.sqrt(2))
    assert official[-1] == pytest.approx(1.024, rel=1e-12)
    for betas in (linear, nonlinear, official):
        assert np.all(np.diff(betas) > 0)
    with pytest.raises(ValueError, match="unknown kind 'cubic'; valid choices"):
        paper_betas("cubic")


# ----------------------------------------------------------------------------- core behaviour
def _sequential_problem():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    return model, _randn(4, 5, 2, seed=2), _randn(4, 5, 1, seed=3)


def test_beta_zero_is_exactly_the_unperturbed_loss():
    model, x, y = _sequential_problem()
    curve = perturbation_error(model, mse_loss(x, y), [0.0, 0.1, 1.0], samples=3)
    with torch.no_grad():
        expected = float(((model(x) - y) ** 2).mean())
    assert np.all(curve.sample_errors[0] == expected)
    assert curve.errors[0] == expected
    assert curve.meta["unperturbed_error"] == expected
    assert curve.sample_errors.shape == (3, 3)


def test_errors_are_running_max_and_non_decreasing():
    model, x, y = _sequential_problem()
    betas = [0.0, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0]
    curve = perturbation_error(model, mse_loss(x, y), betas, samples=4, seed=3)
    assert np.all(np.diff(curve.errors) >= 0)
    for i in range(len(betas)):
        assert curve.errors[i] == curve.sample_errors[: i + 1].max()
    assert curve.errors[-1] > curve.errors[0]  # a radius-3 ball does change the loss


def test_seed_reproducibility():
    model, x, y = _sequential_problem()
    betas = [0.0, 0.1, 1.0]
    a = perturbation_error(model, mse_loss(x, y), betas, samples=3, seed=7)
    b = perturbation_error(model, mse_loss(x, y), betas, samples=3, seed=7)
    c = perturbation_error(model, mse_loss(x, y), betas, samples=3, seed=8)
    np.testing.assert_array_equal(a.sample_errors, b.sample_errors)
    assert not np.any(a.sample_errors[1:] == c.sample_errors[1:])


@pytest.mark.parametrize("norm", ["inf", "paper"])
@pytest.mark.parametrize("name", list(_models()))
def test_batched_evaluation_equals_reference_loop(name, norm):
    model, d_out = _models()[name]
    x, y = _randn(3, 4, 2, seed=4), _randn(3, 4, d_out, seed=5)
    betas, samples, seed = [0.0, 0.05, 0.5], 2, 11
    state = copy.deepcopy(model.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the batched path must not fall back
        curve = perturbation_error(
            model, mse_loss(x, y), betas, samples=samples, seed=seed, norm=norm
        )
        chunked = perturbation_error(
            model, mse_loss(x, y), betas, samples=samples, seed=seed, norm=norm, chunk_size=2
        )
        looped = perturbation_error(
            model, mse_loss(x, y), betas, samples=samples, seed=seed, norm=norm, vectorize=False
        )
    assert curve.meta["evaluation"] == "vmap" and looped.meta["evaluation"] == "loop"
    expected = _reference_sample_errors(model, x, y, betas, samples, seed, norm)
    for result in (curve, chunked, looped):
        np.testing.assert_allclose(result.sample_errors, expected, rtol=1e-12, atol=1e-14)
    for key, value in model.state_dict().items():  # the model itself is left untouched
        assert torch.equal(value, state[key])


def test_loop_fallback_warns_and_matches_reference():
    torch.manual_seed(2)
    model = ItemModel().double()
    x, y = _randn(3, 4, 2, seed=6), _randn(3, 4, 3, seed=7)
    with pytest.warns(RuntimeWarning, match="falling back to a slower loop"):
        curve = perturbation_error(model, mse_loss(x, y), [0.0, 0.2], samples=3, seed=1)
    assert curve.meta["evaluation"] == "loop"
    expected = _reference_sample_errors(model, x, y, [0.0, 0.2], 3, 1, "inf")
    np.testing.assert_allclose(curve.sample_errors, expected, rtol=1e-12)


def _matrix_norm_loss(kind):
    """Callable loss reading the probe's perturbed parameters from its output."""
    probe = ParamProbe()
    base = torch.cat([probe.matrix.detach().reshape(-1), probe.vector.detach()])

    def loss(pred, target):
        delta = pred[0, :, 0] - base
        matrix, vector = delta[:12].reshape(3, 4), delta[12:]
        if kind == "inf_matrix":
            return matrix.abs().max()
        if kind == "inf_vector":
            return vector.abs().max()
        if kind == "spectral":
            return torch.linalg.svdvals(matrix)[0]
        return torch.sqrt((vector**2).sum())

    return probe, loss


@pytest.mark.parametrize(
    "norm, kind",
    [("inf", "inf_matrix"), ("inf", "inf_vector"), ("paper", "spectral"), ("paper", "euclid")],
)
def test_noise_has_exactly_the_requested_norm(norm, kind):
    probe, loss = _matrix_norm_loss(kind)
    betas = np.array([0.0, 1e-3, 0.25, 7.0])
    curve = perturbation_error(
        probe, custom_loss(loss, _randn(1, 1, 1)), betas, samples=3, norm=norm
    )
    assert curve.sample_errors[0] == pytest.approx([0, 0, 0], abs=1e-15)
    np.testing.assert_allclose(
        curve.sample_errors[1:], np.repeat(betas[1:, None], 3, axis=1), rtol=1e-12
    )


def test_stable_parametrization_stays_stable_under_huge_perturbations():
    length = 8
    x = _randn(4, length, 1, seed=8)
    y = _randn(4, length, 1, seed=9)
    betas = [0.0, 1.0, 10.0, 100.0, 1000.0]
    # |decay| <= 1 gives |y_k| <= sum_j |x_j|: a bound on the MSE for ANY raw weights.
    bound = float(((x.abs().sum(dim=1, keepdim=True) + y.abs()) ** 2).mean())
    stable = perturbation_error(DecayModel(6, stable=True), mse_loss(x, y), betas, samples=5)
    assert np.all(np.isfinite(stable.errors)) and stable.errors[-1] <= bound
    unstable = perturbation_error(DecayModel(6, stable=False), mse_loss(x, y), betas, samples=5)
    assert unstable.errors[0] == pytest.approx(stable.errors[0], rel=1e-12)  # same model at 0
    assert unstable.errors[-2] > 1e6 * bound  # raw rate +100: exp(100)^k explodes
    # raw rate ~ +1000: exp overflows, inf * 0 gives a NaN loss, which is recorded as +inf
    overflowing = DecayModel(6, stable=False)
    with torch.no_grad():
        overflowing.rates.weight.fill_(1000.0)
        assert math.isnan(float(((overflowing(x) - y) ** 2).mean()))
    assert np.all(np.isposinf(unstable.sample_errors[-1]))


def test_progress_bar_is_shown_on_request(capsys):
    model, x, y = _sequential_problem()
    perturbation_error(model, mse_loss(x, y), [0.0, 0.1], samples=4, chunk_size=2, progress=True)
    assert "perturbation" in capsys.readouterr().err
    perturbation_error(model, mse_loss(x, y), [0.0, 0.1], samples=4, chunk_size=2)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- adversarial
def _linear_problem():
    """y = (w + delta) . x with unit-vector inputs: MSE(delta) = mean_i (r_i + delta_i)^2."""
    residual = torch.tensor([0.5, -0.8, 0.3], dtype=F64)  # r = w - w_target
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0, -1.0]], dtype=F64))
    x = torch.eye(3, dtype=F64).unsqueeze(0)  # (batch 1, T 3, d 3): x_k = e_k
    target_weight = model.weight.detach()[0] - residual
    y = (x @ target_weight).unsqueeze(-1)  # (1, 3, 1)
    return model, x, y, residual.numpy()


def test_adversarial_reaches_the_analytic_sup_under_the_inf_norm():
    model, x, y, r = _linear_problem()
    betas = np.array([0.0, 0.05, 0.1, 0.2])
    sup = np.array([np.mean((np.abs(r) + b) ** 2) for b in betas])  # delta = beta sign(r)
    random = perturbation_error(model, mse_loss(x, y), betas, samples=4, seed=2)
    adversarial = perturbation_error(
        model, mse_loss(x, y), betas, samples=4, seed=2, mode="adversarial"
    )
    np.testing.assert_allclose(
        adversarial.sample_errors[1:], sup[1:, None] * np.ones(4), rtol=1e-12
    )
    np.testing.assert_allclose(adversarial.errors, sup, rtol=1e-12)
    assert np.all(random.sample_errors[1:] < sup[1:, None] * (1 - 1e-6))
    assert np.all(adversarial.sample_errors >= random.sample_errors)


def test_adversarial_under_the_paper_norm_is_a_tighter_lower_bound():
    model, x, y, r = _linear_problem()
    betas = np.array([0.0, 0.05, 0.1, 0.2])
    # 2-norm ball of the (1, 3) weight: sup = mean over 3 of (|r|_2 + beta)^2 / ... exactly
    sup = (np.linalg.norm(r) + betas) ** 2 / 3
    random = perturbation_error(model, mse_loss(x, y), betas, samples=4, seed=2, norm="paper")
    adversarial = perturbation_error(
        model, mse_loss(x, y), betas, samples=4, seed=2, norm="paper", mode="adversarial"
    )
    assert np.all(adversarial.sample_errors >= random.sample_errors)
    assert np.all(adversarial.sample_errors <= sup[:, None] * (1 + 1e-12))  # stays in the ball
    gap_random = sup[1:] - random.errors[1:]
    gap_adversarial = sup[1:] - adversarial.errors[1:]
    assert np.all(gap_adversarial < 0.05 * gap_random)


def test_adversarial_works_with_batched_recurrent_models():
    torch.manual_seed(3)
    model = nn.GRU(1, 3, batch_first=True).double()
    x, y = _randn(2, 5, 1, seed=10), _randn(2, 5, 3, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        random = perturbation_error(model, mse_loss(x, y), [0.0, 0.1, 0.5], samples=2)
        adversarial = perturbation_error(
            model, mse_loss(x, y), [0.0, 0.1, 0.5], samples=2, mode="adversarial", chunk_size=3
        )
    assert adversarial.meta["evaluation"] == "vmap"
    assert np.all(adversarial.sample_errors >= random.sample_errors)
    assert adversarial.errors[-1] > random.errors[-1]


# ----------------------------------------------------------------------------- ContinuousRNN
@pytest.mark.parametrize(
    "structure, parametrization, backend",
    [
        ("diagonal", "softplus", "auto"),
        ("diagonal", "exp", "reference"),
        ("symmetric", "softplus", "reference"),
        ("symmetric", "softplus", "auto"),
        ("dense", "direct", "reference"),
        ("dense", "direct", "auto"),
    ],
)
def test_continuous_rnn_matches_reference_loop(structure, parametrization, backend):
    torch.manual_seed(5)
    model = ContinuousRNN(
        3,
        input_size=2,
        structure=structure,
        parametrization=parametrization,
        backend=backend,
        dt=0.5,
    ).double()
    x, y = _randn(3, 4, 2, seed=4), _randn(3, 4, 1, seed=5)
    betas, samples, seed = [0.0, 0.05, 0.5], 2, 11
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fused backends may need the loop
        for norm in ("inf", "paper"):
            curve = perturbation_error(
                model, mse_loss(x, y), betas, samples=samples, seed=seed, norm=norm
            )
            expected = _reference_sample_errors(model, x, y, betas, samples, seed, norm)
            np.testing.assert_allclose(curve.sample_errors, expected, rtol=1e-12, atol=1e-14)
        random = perturbation_error(model, mse_loss(x, y), betas, samples=samples, seed=seed)
        adversarial = perturbation_error(
            model, mse_loss(x, y), betas, samples=samples, seed=seed, mode="adversarial"
        )
    assert np.all(adversarial.sample_errors >= random.sample_errors)


def test_continuous_rnn_reference_backend_is_evaluated_by_vmap():
    torch.manual_seed(6)
    model = ContinuousRNN(3, structure="symmetric", backend="reference", dt=0.5).double()
    x, y = _randn(2, 5, 1, seed=12), _randn(2, 5, 1, seed=13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = perturbation_error(model, mse_loss(x, y), [0.0, 0.1], samples=2, mode="adversarial")
    assert curve.meta["evaluation"] == "vmap"


def test_continuous_rnn_perturbed_copies_run_as_one_numba_call(fused_layer_calls):
    """On CPU the vmapped batch of perturbed models is one fused layer call per pass."""
    torch.manual_seed(7)
    model = ContinuousRNN(4, structure="symmetric", dt=0.5).double()
    x, y = _randn(3, 6, 1, seed=14), _randn(3, 6, 1, seed=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the loop
        curve = perturbation_error(model, mse_loss(x, y), [0.0, 0.1, 1.0], samples=3)
    assert curve.meta["evaluation"] == "vmap"
    # beta = 0: the unperturbed model (K = 1); then 2 betas x 3 samples in one call
    assert fused_layer_calls == [1, 6]


# ----------------------------------------------------------------------------- sobolev loss
def _exp_target() -> LinearFunctional:
    return LinearFunctional(lambda t: np.exp(-t), name="exp")


def test_sobolev_loss_is_zero_for_an_exact_model():
    length, dt = 30, 0.5
    kernel = dt * torch.exp(-torch.arange(length, dtype=F64) * dt)  # dt rho(j dt)
    model = KernelModel(kernel)
    loss = sobolev_loss(_exp_target(), length, dt)
    curve = perturbation_error(model, loss, [0.0, 0.01], samples=2)
    assert curve.errors[0] < 1e-13
    assert curve.sample_errors[1].min() > 1e-3  # any perturbation of the kernel is seen
    assert curve.meta["loss"] == "sobolev"
    values = torch.tensor([[1.0], [-2.0]])  # a plain callable target needs heaviside_values
    same_as_callable = perturbation_error(
        model, sobolev_loss(KernelModel(kernel), length, dt, heaviside_values=values), [0.0]
    )
    assert same_as_callable.errors[0] == 0.0
    with pytest.raises(ValueError, match="heaviside_values is required"):
        sobolev_loss(KernelModel(kernel), length, dt)


def test_sobolev_loss_matches_hand_computed_value():
    length, dt = 30, 0.5
    steps = np.arange(length)
    kernel = dt * 2 * torch.exp(-2 * torch.arange(length, dtype=F64) * dt)  # rho_hat = 2 e^{-2t}
    model = KernelModel(kernel)
    # Heaviside step of height +-1: H_k = dt sum_{j<=k} e^{-j dt} (geometric sums) and
    # dH_k/dt ~ (H_k - H_{k-1}) / dt = rho(k dt); same for the model with 2 e^{-2t}.
    q1, q2 = math.exp(-dt), math.exp(-2 * dt)
    values = dt * ((1 - q1 ** (steps + 1)) / (1 - q1) - 2 * (1 - q2 ** (steps + 1)) / (1 - q2))
    slopes = np.exp(-steps * dt) - 2 * np.exp(-2 * steps * dt)
    expected = np.max(np.abs(values) + np.abs(slopes))
    curve = perturbation_error(model, sobolev_loss(_exp_target(), length, dt), [0.0], samples=1)
    assert curve.errors[0] == pytest.approx(expected, rel=1e-12)
    heights = torch.tensor([[3.0], [-0.5]])  # normalised by |x|_inf: the height does not matter
    scaled = perturbation_error(
        model, sobolev_loss(_exp_target(), length, dt, heaviside_values=heights), [0.0]
    )
    assert scaled.errors[0] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- other losses
def test_twe_mse_matches_the_official_formula():
    # official twe_MSE, p = 2: w_i = ((i+1)/(T+1))^2 renormalised to mean 1; mean of w^2 e^2
    model, x, y = _sequential_problem()  # T = 5
    with torch.no_grad():
        err = (model(x) - y).numpy()  # (4, 5, 1)
    raw = np.array([((i + 1) / 6) ** 2 for i in range(5)])
    w = 5 * raw / raw.sum()
    expected = np.mean((w[None, :, None] * err) ** 2)
    curve = perturbation_error(model, twe_mse_loss(x, y), [0.0])
    assert curve.errors[0] == pytest.approx(expected, rel=1e-13)
    assert curve.meta["loss"] == "twe_mse" and curve.meta["loss_settings"] == {"p": 2.0}
    plain = perturbation_error(model, twe_mse_loss(x, y, p=0), [0.0])  # p = 0: plain MSE
    assert plain.errors[0] == pytest.approx(float(np.mean(err**2)), rel=1e-13)
    with pytest.raises(ValueError, match="p must be >= 0"):
        twe_mse_loss(x, y, p=-1)


@pytest.mark.parametrize("norm", ["sup", "l1", "l2"])
def test_impulse_response_loss_compares_memory_kernels(norm):
    # KernelModel with kernel k_j answers an impulse 1/dt by k_k / dt: rho_hat(k dt) = k_k / dt
    length, dt = 20, 0.5
    rho_hat = 2 * torch.exp(-2 * torch.arange(length, dtype=F64) * dt)
    model = KernelModel(dt * rho_hat)
    steps = [1, 4, 9, 19]
    gap = np.abs(2 * np.exp(-2 * dt * np.array(steps)) - np.exp(-dt * np.array(steps)))
    expected = {"sup": gap.max(), "l1": gap.sum(), "l2": np.sqrt((gap**2).sum())}[norm]
    curve = perturbation_error(model, impulse_response_loss(_exp_target(), dt, steps, norm), [0.0])
    assert curve.errors[0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="distinct non-negative"):
        impulse_response_loss(_exp_target(), dt, [3, 3])
    with pytest.raises(TypeError, match="integers"):
        impulse_response_loss(_exp_target(), dt, [0.5, 1.0])


def test_custom_loss_receives_targets_unchanged():
    model, x, y = _sequential_problem()
    curve = perturbation_error(
        model, custom_loss(lambda pred, ref: (pred - ref).abs().max(), x, y), [0.0]
    )
    with torch.no_grad():
        assert curve.errors[0] == pytest.approx(float((model(x) - y).abs().max()), rel=1e-14)
    assert curve.meta["loss"] == "<lambda>"
    with pytest.raises(TypeError, match="function must be callable"):
        custom_loss("mse", x, y)


# ----------------------------------------------------------------------------- norms, relu
def test_paper_norm_of_a_diagonal_w_is_the_max_eigenvalue_change():
    # ||diag(delta)||_2 = max |delta_i|: the raw eigenvalues get max-abs noise under "paper"
    torch.manual_seed(8)
    model = ContinuousRNN(5, parametrization="direct", dt=0.5).double()
    base = model.raw_recurrent_weight.detach().clone()

    def eigenvalue_shift(pred, ref):  # reads the perturbed eigenvalues through the model
        return pred.new_zeros(())

    x = _randn(1, 3, 1, seed=20)
    betas = [0.0, 0.3]
    captured = []

    class Spy(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            captured.append(self.inner.parametrizations.eigenvalues.original)
            return self.inner(z)

    spy = Spy(model)
    perturbation_error(spy, custom_loss(eigenvalue_shift, x), betas, norm="paper", vectorize=False)
    deltas = [c.detach() - base for c in captured[1:]]  # after the unperturbed pass
    assert deltas and all(d.abs().max().item() == pytest.approx(0.3, rel=1e-12) for d in deltas)
    assert all(torch.linalg.vector_norm(d).item() > 0.3 for d in deltas)  # not the 2-ball


def test_relu_semantics_raw_keeps_eigenvalues_nonpositive_official_does_not():
    torch.manual_seed(9)
    model = ContinuousRNN(4, activation="linear", parametrization="relu", dt=0.1, bias=False)
    model = model.double()
    with torch.no_grad():  # lambda = -relu(w) = -0.05 for every mode
        model.parametrizations.eigenvalues.original.fill_(0.05)
    model.input_kernel.weight.requires_grad_(False)  # only the eigenvalues are perturbed
    model.readout.weight.requires_grad_(False)
    x = torch.zeros(1, 200, 1, dtype=F64)
    x[0, 0, 0] = 1.0
    y = torch.zeros(1, 200, 1, dtype=F64)
    kwargs = {"samples": 4, "seed": 3}
    raw = perturbation_error(model, mse_loss(x, y), [0.0, 1.0], **kwargs)
    official = perturbation_error(model, mse_loss(x, y), [0.0, 1.0], relu="official", **kwargs)
    # raw: lambda = -relu(0.05 + delta) in [-1.05, 0], so 0 <= 1 + dt lambda <= 1 and the
    # impulse response is bounded by dt * sum |c_i U_i| (the input is 1 = (1/dt) * dt)
    with torch.no_grad():
        bound = 0.1 * float((model.readout.weight.abs() @ model.input_kernel.weight.abs()).sum())
    assert raw.errors[-1] <= bound**2
    assert raw.meta["relu_maps_projected"] == 0
    # official: lambda = -0.05 + delta, a mode with delta > 0.05 grows like (1 + 0.1 delta')^k
    assert official.errors[-1] > 1e6 * raw.errors[-1]
    assert official.meta["relu_maps_projected"] == 1 and official.errors[0] == raw.errors[0]
    assert model.parametrization == "relu"  # the model itself is untouched


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "betas, error, match",
    [
        ([0.0, -0.1], ValueError, "betas must be non-negative"),
        ([0.0, 0.2, 0.1], ValueError, "betas must be sorted ascending"),
        ([0.0, float("nan")], ValueError, "betas contains NaN"),
        ([0.0, float("inf")], ValueError, "betas must be finite"),
        ([[0.0, 0.1]], ValueError, "non-empty 1-D"),
        ([], ValueError, "non-empty 1-D"),
        (["a"], TypeError, "betas must be a 1-D sequence of numbers"),
    ],
)
def test_bad_betas_raise(betas, error, match):
    model, x, y = _sequential_problem()
    with pytest.raises(error, match=match):
        perturbation_error(model, mse_loss(x, y), betas)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"samples": 0}, ValueError, "samples must be a positive integer"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        ({"norm": "fro"}, ValueError, "unknown norm 'fro'; valid choices: inf, paper"),
        ({"mode": "pgd"}, ValueError, "unknown mode 'pgd'; valid choices: adversarial, random"),
        ({"relu": "both"}, ValueError, "unknown relu 'both'; valid choices: official, raw"),
        ({"adversarial_steps": 0}, ValueError, "adversarial_steps must be a positive"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be a positive"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating torch.dtype"),
        ({"vectorize": "yes"}, TypeError, "vectorize must be True or False"),
        ({"progress": 1}, TypeError, "progress must be True or False"),
    ],
)
def test_bad_options_raise(kwargs, error, match):
    model, x, y = _sequential_problem()
    with pytest.raises(error, match=match):
        perturbation_error(model, mse_loss(x, y), [0.0, 0.1], **kwargs)


def test_bad_data_raise():
    model, x, y = _sequential_problem()
    with pytest.raises(ValueError, match="inputs must have shape"):
        mse_loss(x[0], y)
    with pytest.raises(ValueError, match="same \\(batch, time\\) as inputs"):
        mse_loss(x, y[:, :3])
    with pytest.raises(ValueError, match="model output shape \\(4, 5, 1\\) does not match"):
        perturbation_error(model, mse_loss(x, torch.cat([y, y], dim=-1)), [0.0])
    with pytest.raises(ValueError, match="inputs contains NaN"):
        mse_loss(x * float("nan"), y)
    with pytest.raises(ValueError, match="no trainable parameters"):
        perturbation_error(nn.Tanh(), mse_loss(x, y), [0.0])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        perturbation_error(lambda z: z, mse_loss(x, y), [0.0])
    with pytest.raises(TypeError, match="loss must be a PerturbationLoss"):
        perturbation_error(model, "mse", [0.0])
    with pytest.raises(ValueError, match="heaviside_values must be finite and non-zero"):
        sobolev_loss(_exp_target(), 5, 1.0, heaviside_values=torch.zeros(1, 1))
    with pytest.raises(ValueError, match="dt must be a positive"):
        sobolev_loss(_exp_target(), 5, 0.0)


def test_old_call_style_gets_a_migration_hint():
    model, x, y = _sequential_problem()
    with pytest.raises(TypeError, match="mse_loss\\(inputs, targets\\)"):
        perturbation_error(model, x, y, [0.0])


@pytest.mark.parametrize("make", [mse_loss, twe_mse_loss])
def test_empty_inputs_raise_instead_of_returning_inf(make):
    model, x, y = _sequential_problem()
    with pytest.raises(ValueError, match="at least one sequence, one time step"):
        make(x[:0], y[:0])
    with pytest.raises(ValueError, match="at least one sequence, one time step"):
        make(x[:, :0], y[:, :0])


def test_dtype_option_computes_in_a_copy():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))  # float32
    x, y = _randn(2, 3, 2, seed=12).float(), _randn(2, 3, 1, seed=13).float()
    curve = perturbation_error(model, mse_loss(x, y), [0.0, 0.1], dtype=F64)
    assert curve.meta["dtype"] == "float64"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        expected = float(((model.double()(x.double()) - y.double()) ** 2).mean())
    assert curve.errors[0] == pytest.approx(expected, rel=1e-14)
