"""Random nonlinear teachers for the filtering experiment (paper Figs 3, 11, 12).

Both teachers are seeded, frozen (no gradients, eval mode), causal torch modules
mapping inputs ``(batch, T, input_dim)`` to outputs ``(batch, T, 1)``. They are
built in float64 by default. Building one never touches the global torch RNG.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from curse_of_memory._validation import (
    check_choice,
    check_finite_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_sequence_tensor,
)
from curse_of_memory.kernels import ACTIVATIONS, euler_recurrence

RNN_CELLS = ("euler", "torch")
POSITIONAL_ENCODINGS = ("none", "sinusoidal")
_TORCH_RNN_ACTIVATIONS = ("relu", "tanh")


def _check_float_dtype(dtype: torch.dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


class _FrozenTeacher(nn.Module):
    """Shared plumbing: input checks, dtype handling, freezing."""

    input_dim: int

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype (follows ``.to(...)``)."""
        return next(self.parameters()).dtype

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = check_sequence_tensor("x", x, self.input_dim)
        device = next(self.parameters()).device
        if x.device != device:
            raise ValueError(f"x is on {x.device} but the teacher is on {device}; move one")
        return x.to(self.dtype)


class RandomRNNTeacher(_FrozenTeacher):
    """A randomly initialised RNN with a random linear readout.

    The paper's teachers (Fig 3) are random RNNs of width **256**; the official
    code uses ``torch.nn.RNN(1, 16, tanh)`` with PyTorch's default init plus a random
    ``Linear(16, 1)`` readout. Two cells are offered:

    ``cell="euler"`` (default): the paper's continuous-time RNN (paper eq 3)
    discretised by forward Euler, the same recurrence as the students,

        h_{k+1} = h_k + dt * sigma((W - leak I) h_k + U x_k + b),   h_0 = 0,
        y_k     = c^T h_{k+1} + c_0.

    ``cell="torch"``: the official teacher, ``torch.nn.RNN`` (batch_first),

        h_{k+1} = sigma(W_ih x_k + b_ih + W_hh h_k + b_hh),   y_k = c^T h_{k+1} + c_0;

        ``dt`` is unused and ``activation`` must be ``"tanh"`` or ``"relu"``.

    Initialisation (both cells): every entry of W, U and b is drawn from
    U(-1/sqrt(m), 1/sqrt(m)) (PyTorch's ``nn.RNN`` default; for ``"torch"`` it *is* that
    default); the readout is ``nn.Linear(m, 1)``'s default init. With this scale W has
    eigenvalues of either sign of real part (spectral radius about 1/sqrt(3) for large
    m), so with the default ``leak=0`` an Euler teacher's hidden state typically drifts
    and its memory need not decay (paper Appendix I, Fig 11): screening teachers is the
    experiment's job. ``leak > 0.6`` shifts the spectrum of ``W - leak I`` into the left
    half-plane, which gives teachers with decaying memory (``leak`` is our addition).

    Parameters
    ----------
    hidden_size: width m (paper 256, official code 16).
    input_dim: input channels d.
    seed: seeds the weights (the global RNG is left untouched).
    activation: sigma; for ``"euler"`` any of ``kernels.ACTIVATIONS``.
    dt: Euler step (> 0), ``"euler"`` cell only.
    cell: ``"euler"`` or ``"torch"``.
    leak: subtracted from W's diagonal (``"euler"`` cell only; default 0 = plain random W).
    dtype: parameter dtype (float64 by default).
    """

    def __init__(
        self,
        hidden_size: int = 256,
        input_dim: int = 1,
        seed: int = 0,
        activation: str = "tanh",
        dt: float = 1.0,
        cell: str = "euler",
        leak: float = 0.0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.seed = check_nonnegative_int("seed", seed)
        self.cell = check_choice("cell", cell, RNN_CELLS)
        valid_activations = ACTIVATIONS if cell == "euler" else _TORCH_RNN_ACTIVATIONS
        self.activation = check_choice(f"activation (cell={cell!r})", activation, valid_activations)
        self.dt = check_positive_float("dt", dt)
        self.leak = check_finite_float("leak", leak)
        if cell == "torch" and self.leak != 0.0:
            raise ValueError(
                f"leak applies to cell='euler' only, got leak={leak} with cell='torch'"
            )
        dtype = _check_float_dtype(dtype)
        leak_label = f", leak={self.leak:g}" if self.leak else ""
        self.name = f"rnn_teacher(m={hidden_size}, {activation}, {cell}{leak_label}, seed={seed})"

        m, d = self.hidden_size, self.input_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if cell == "torch":
                self.rnn = nn.RNN(d, m, nonlinearity=activation, batch_first=True, dtype=dtype)
            else:
                bound = 1.0 / math.sqrt(m)
                weight = torch.empty(m, m, dtype=dtype).uniform_(-bound, bound)
                self.recurrent = nn.Parameter(weight - self.leak * torch.eye(m, dtype=dtype))
                self.input_weight = nn.Parameter(
                    torch.empty(m, d, dtype=dtype).uniform_(-bound, bound)
                )
                self.bias = nn.Parameter(torch.empty(m, dtype=dtype).uniform_(-bound, bound))
            self.readout = nn.Linear(m, 1, dtype=dtype)
        self._freeze()

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states h_1..h_T: ``(batch, T, input_dim) -> (batch, T, hidden_size)``."""
        x = self._prepare(x)
        if self.cell == "torch":
            return self.rnn(x)[0]
        drive = x @ self.input_weight.T + self.bias  # (B, T, m): U x_k + b
        return euler_recurrence(drive, self.recurrent, self.dt, self.activation)  # paper eq 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, T, 1)`` in the teacher's dtype for inputs ``(batch, T, input_dim)``."""
        return self.readout(self.hidden_states(x))


class RandomTransformerTeacher(_FrozenTeacher):
    """A randomly initialised causal transformer teacher (paper Fig 12).

    ``y = readout(decoder(z, z))`` with ``z = readin(x)``, ``readin = Linear(d, d_model)``,
    ``readout = Linear(d_model, 1)`` and ``num_layers`` independently initialised
    ``nn.TransformerDecoderLayer``\\ s (``batch_first=True``, ``dropout=0``). Both the
    self-attention and the cross-attention (to ``z`` itself) get the causal mask, so
    ``y_k`` depends on ``x_0..x_k`` only.

    The official teacher is the same stack with d_model 16, 1 head, feed-forward 32
    and 1 layer, but with PyTorch's default ``batch_first=False`` on ``(batch, T, d)``
    inputs -- so it attends **across the batch**, not over time (a bug) -- no causal
    mask, and dropout 0.1 left in training mode. None of that is reproduced here.

    Position. With ``positional="none"`` the stack sees no position: a constant input
    gives a constant output (attention then averages equal tokens), so its Heaviside
    memory is exactly 0 after t = 0. ``positional="sinusoidal"`` adds the usual
    encoding ``PE[k, 2i] = sin(k / 10000^(2i/d_model))``, ``PE[k, 2i+1] = cos(...)`` to
    ``z``, as in real transformers (the teacher is then no longer time-homogeneous).

    Parameters
    ----------
    d_model, nhead, dim_feedforward, num_layers: transformer sizes
        (``d_model`` divisible by ``nhead``).
    input_dim: input channels d.
    seed: seeds the weights (the global RNG is left untouched).
    dtype: parameter dtype (float64 by default).
    positional: ``"none"`` (default) or ``"sinusoidal"`` (see above).
    """

    def __init__(
        self,
        d_model: int = 16,
        nhead: int = 1,
        dim_feedforward: int = 32,
        num_layers: int = 1,
        input_dim: int = 1,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        positional: str = "none",
    ) -> None:
        super().__init__()
        self.d_model = check_positive_int("d_model", d_model)
        self.positional = check_choice("positional", positional, POSITIONAL_ENCODINGS)
        self.nhead = check_positive_int("nhead", nhead)
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.dim_feedforward = check_positive_int("dim_feedforward", dim_feedforward)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.seed = check_nonnegative_int("seed", seed)
        dtype = _check_float_dtype(dtype)
        position_label = "" if positional == "none" else f", {positional} positions"
        self.name = (
            f"transformer_teacher(d_model={d_model}, layers={num_layers}{position_label}, "
            f"seed={seed})"
        )

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.readin = nn.Linear(input_dim, d_model, dtype=dtype)
            self.layers = nn.ModuleList(
                nn.TransformerDecoderLayer(
                    d_model, nhead, dim_feedforward, dropout=0.0, batch_first=True, dtype=dtype
                )
                for _ in range(num_layers)
            )
            self.readout = nn.Linear(d_model, 1, dtype=dtype)
        self._freeze()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, T, 1)`` in the teacher's dtype for inputs ``(batch, T, input_dim)``."""
        x = self._prepare(x)
        length = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(
            length, device=x.device, dtype=self.dtype
        )  # (T, T): -inf above the diagonal
        memory = self.readin(x)  # (B, T, d_model)
        if self.positional == "sinusoidal":
            memory = memory + _sinusoidal_positions(length, self.d_model, memory)  # (T, d_model)
        out = memory
        for layer in self.layers:
            out = layer(
                out,
                memory,
                tgt_mask=mask,
                memory_mask=mask,
                tgt_is_causal=True,
                memory_is_causal=True,
            )
        return self.readout(out)


def _sinusoidal_positions(length: int, d_model: int, like: torch.Tensor) -> torch.Tensor:
    """``(T, d_model)``: ``PE[k, 2i] = sin(k w_i)``, ``PE[k, 2i+1] = cos(k w_i)``,
    ``w_i = 10000^(-2i/d_model)``."""
    positions = torch.arange(length, dtype=like.dtype, device=like.device)[:, None]  # (T, 1)
    pairs = torch.arange(0, d_model, 2, dtype=like.dtype, device=like.device)  # (ceil(d/2),)
    angles = positions * torch.exp(-math.log(10000.0) * pairs / d_model)  # (T, ceil(d/2))
    encoding = torch.zeros(length, d_model, dtype=like.dtype, device=like.device)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return encoding
