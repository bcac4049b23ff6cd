"""A diagonal linear state-space layer in the style of S4D, and a stack of them.

One :class:`DiagonalSSM` layer runs ``H`` independent channels. Channel ``h`` is a
complex diagonal linear system with ``N/2`` modes (conjugate pairs give a real output)::

    dx/dt = A x + B u,   y = 2 Re(C x) + D u,   A = diag(a_n), B = 1

discretised by zero-order hold with step ``Delta_h``::

    x_{k+1} = Abar x_k + Bbar u_k,   Abar = exp(Delta A),   Bbar = (exp(Delta A) - 1) / A

so ``y_k = sum_{j=0..k} K_j u_{k-j} + D u_k`` with the convolution kernel

    K_j = 2 Re sum_n C_n Bbar_n Abar_n^j,           j = 0, 1, ...            (Vandermonde)

(the output at step ``k`` already contains ``u_k``, as for the project's RNNs). The
layer applies ``K`` by FFT convolution, so its cost is ``O(T log T)``.

Initialisation ("S4D-Lin", Gu et al. 2022): ``a_n = -1/2 + i pi n`` (n = 0..N/2-1),
``Delta`` log-uniform in ``[dt_min, dt_max]`` per channel, ``C`` complex standard
normal (variance 1/2 per part), ``D`` standard normal. The slowest mode of a channel
decays like ``exp(-Delta t / 2)``, so the timescales span ``2/dt_max .. 2/dt_min``
steps (20..2000 with the defaults).

:class:`S4DModel` stacks layers: a linear encoder ``(d -> H)``, ``num_layers`` layers
with a pointwise nonlinearity between consecutive layers (none after the last), and an
optional linear decoder ``(H -> output_size)``. With one layer the whole model is linear
in its input.
"""

from __future__ import annotations

import math
from typing import Any

import scipy.fft
import torch
from torch import nn

from curse_of_memory._validation import check_choice, check_positive_float, check_positive_int
from curse_of_memory.models._common import check_model_input

NONLINEARITIES: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "tanh": nn.Tanh, "relu": nn.ReLU}


def _check_step_range(dt_min: Any, dt_max: Any) -> tuple[float, float]:
    low = check_positive_float("dt_min", dt_min)
    high = check_positive_float("dt_max", dt_max)
    if high < low:
        raise ValueError(f"dt_max must be >= dt_min, got dt_min={dt_min}, dt_max={dt_max}")
    return low, high


class DiagonalSSM(nn.Module):
    """``H`` channels of complex diagonal linear SSMs (S4D-Lin), applied by FFT convolution.

    Parameters
    ----------
    channels: H >= 1, the number of independent channels (input = output width).
    state_size: N >= 2 (even), real state size per channel; ``N/2`` complex modes.
    dt_min, dt_max: range of the log-uniform initial step ``Delta`` (> 0).

    Shapes: ``forward(u)``: ``(batch, T, H) -> (batch, T, H)``; ``kernel(T)``: ``(H, T)``.
    Trainable parameters: ``log_step (H,)``, ``log_decay (H, N/2)`` (Re a = -exp),
    ``frequency (H, N/2)`` (Im a), ``output_weight (H, N/2, 2)`` (C as real pairs),
    ``skip (H,)`` (D).
    """

    def __init__(
        self, channels: int, state_size: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1
    ) -> None:
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.state_size = check_positive_int("state_size", state_size)
        if self.state_size < 2 or self.state_size % 2:
            raise ValueError(f"state_size must be an even integer >= 2, got {state_size}")
        self.dt_min, self.dt_max = _check_step_range(dt_min, dt_max)
        h, modes = self.channels, self.state_size // 2
        log_step = torch.empty(h).uniform_(math.log(self.dt_min), math.log(self.dt_max))
        self.log_step = nn.Parameter(log_step)
        self.log_decay = nn.Parameter(torch.full((h, modes), math.log(0.5)))  # Re a_n = -1/2
        self.frequency = nn.Parameter(math.pi * torch.arange(modes).repeat(h, 1).float())
        self.output_weight = nn.Parameter(torch.randn(h, modes, 2) * math.sqrt(0.5))
        self.skip = nn.Parameter(torch.randn(h))

    def eigenvalues(self) -> torch.Tensor:
        """Continuous-time modes ``a_n``, complex ``(H, N/2)``."""
        return torch.complex(-torch.exp(self.log_decay), self.frequency)

    def kernel(self, length: int) -> torch.Tensor:
        """Convolution kernel ``K_j``, ``j = 0..length-1``: real ``(H, length)``."""
        length = check_positive_int("length", length)
        a = self.eigenvalues()  # (H, N/2)
        step_a = a * torch.exp(self.log_step)[:, None]  # Delta a, (H, N/2)
        c = torch.view_as_complex(self.output_weight.contiguous())  # (H, N/2)
        c_bbar = c * (torch.exp(step_a) - 1.0) / a  # C Bbar (ZOH, B = 1)
        steps = torch.arange(length, device=a.device, dtype=a.real.dtype)
        powers = torch.exp(step_a[..., None] * steps)  # Abar^j, (H, N/2, T)
        return 2.0 * torch.einsum("hn,hnt->ht", c_bbar, powers).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``y_k = sum_j K_j u_{k-j} + D u_k``: ``(batch, T, H) -> (batch, T, H)``."""
        length = u.shape[1]
        k = self.kernel(length).to(u.dtype)  # (H, T)
        # zero padding to >= 2T - 1: linear (causal), not circular, convolution
        n_fft = scipy.fft.next_fast_len(2 * length - 1, real=True)
        u_f = torch.fft.rfft(u, n=n_fft, dim=1)  # (batch, n_fft/2+1, H)
        k_f = torch.fft.rfft(k, n=n_fft, dim=1).T  # (n_fft/2+1, H)
        y = torch.fft.irfft(u_f * k_f, n=n_fft, dim=1)[:, :length]  # (batch, T, H)
        return y + u * self.skip

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, state_size={self.state_size}, "
            f"dt_min={self.dt_min:g}, dt_max={self.dt_max:g}"
        )


class S4DModel(nn.Module):
    """Encoder, ``num_layers`` :class:`DiagonalSSM` layers with a nonlinearity between them,
    and an optional decoder.

    Parameters
    ----------
    input_size: d >= 1.
    channels: H >= 1, width of every layer.
    num_layers: number of SSM layers (>= 1).
    state_size: N (even, >= 2) per channel.
    output_size: decoder width, or ``None`` to output the last layer's H channels.
    nonlinearity: between consecutive layers, one of ``NONLINEARITIES`` (default GELU).
    dt_min, dt_max: range of the initial steps of every layer.

    Shapes: ``forward(x)``: ``(batch, T, d) -> (batch, T, output_size or H)``.
    """

    def __init__(
        self,
        input_size: int = 1,
        channels: int = 16,
        num_layers: int = 1,
        state_size: int = 64,
        output_size: int | None = None,
        nonlinearity: str = "gelu",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.channels = check_positive_int("channels", channels)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.state_size = check_positive_int("state_size", state_size)
        self.output_size = (
            None if output_size is None else check_positive_int("output_size", output_size)
        )
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self.dt_min, self.dt_max = _check_step_range(dt_min, dt_max)
        self.encoder = nn.Linear(self.input_size, self.channels)
        self.layers = nn.ModuleList(
            DiagonalSSM(self.channels, self.state_size, self.dt_min, self.dt_max)
            for _ in range(self.num_layers)
        )
        self.activation = NONLINEARITIES[self.nonlinearity]()
        self.decoder = (
            None if self.output_size is None else nn.Linear(self.channels, self.output_size)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_model_input(x, self.input_size, self)
        z = self.encoder(x)  # (batch, T, H)
        for index, layer in enumerate(self.layers):
            if index > 0:
                z = self.activation(z)  # between layers only
            z = layer(z)
        return z if self.decoder is None else self.decoder(z)

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-friendly dict (``build_model`` rebuilds the model)."""
        return {
            "model": "S4DModel",
            "input_size": self.input_size,
            "channels": self.channels,
            "num_layers": self.num_layers,
            "state_size": self.state_size,
            "output_size": self.output_size,
            "nonlinearity": self.nonlinearity,
            "dt_min": self.dt_min,
            "dt_max": self.dt_max,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> S4DModel:
        """Build a fresh (randomly initialised) model from ``config()`` output."""
        if config.get("model", "S4DModel") != "S4DModel":
            raise ValueError(f"config is for model {config['model']!r}, not 'S4DModel'")
        return cls(**{key: value for key, value in config.items() if key != "model"})
