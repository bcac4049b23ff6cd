"""Continuous-time GRU and LSTM, discretised so that ``dt = 1`` is the usual discrete cell.

GRU (paper Appendix J, eqs 131-140), gates evaluated at the current state::

    z = sigmoid(W_z x + U_z h + b_z)                          (eq 131, update gate)
    r = sigmoid(W_r x + U_r h + b_r)                          (eq 132, reset gate)
    h_hat = tanh(W_h x + U_h (r * h) + b_h)                   (eq 133)
    dh/dt = z * (h_hat - h)                                   (eq 136-140)

Forward Euler with step dt gives ``h_{k+1} = h_k + dt z_k (h_hat_k - h_k)``; at
``dt = 1`` this is eq 134/135, the discrete GRU. ``reset_after=True`` uses the
variant of cuDNN / ``torch.nn.GRU``, ``h_hat = tanh(W_h x + b_ih,h + r * (U_h h + b_hh,h))``;
with it, :meth:`ContinuousGRU.from_torch` reproduces ``torch.nn.GRU`` exactly at
``dt = 1``. Note the paper's update gate is ``1 - z`` of ``torch.nn.GRU`` (torch
writes ``h' = (1 - z) n + z h``); ``from_torch`` negates the z-block weights, since
``1 - sigmoid(a) = sigmoid(-a)``.

LSTM: the paper does not analyse it (paper Appendix J). The continuous form below is
**our own derivation**. The discrete LSTM ``c' = f c + i g``, ``h' = o tanh(c')``
is read as one unit step of::

    i, f, o = sigmoid(W_{i,f,o} x + U_{i,f,o} h + b_{i,f,o}),   g = tanh(W_g x + U_g h + b_g)
    dc/dt = (f - 1) * c + i * g          (c' - c = (f - 1) c + i g)
    dh/dt = o * tanh(c) - h              (h relaxes towards o tanh(c))

discretised by semi-implicit Euler: ``c`` first, then ``h`` with the new ``c``::

    c_{k+1} = c_k + dt ((f_k - 1) c_k + i_k g_k)
    h_{k+1} = h_k + dt (o_k tanh(c_{k+1}) - h_k)

(all gates from ``x_k``, ``h_k``). It is first-order consistent with the ODE as
``dt -> 0`` and equals ``torch.nn.LSTM`` exactly at ``dt = 1``.

Both start from zero state and output ``h_1..h_T`` (so ``y_k`` contains ``x_k``),
followed by a linear readout. Weights use ``torch.nn.GRU`` / ``torch.nn.LSTM``
names, layouts and gate order (GRU: r, z, n; LSTM: i, f, g, o) and their default
uniform init ``U(-1/sqrt(m), 1/sqrt(m))``; the readout is ``readout`` (``nn.Linear``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from curse_of_memory._validation import check_positive_float, check_positive_int
from curse_of_memory.models._common import check_flag, check_model_input


class _ContinuousGated(nn.Module):
    """Shared construction, readout and config of the gated continuous RNNs."""

    _gates: int  # number of gate blocks stacked in the weight matrices

    def __init__(
        self,
        hidden_size: int,
        input_size: int,
        output_size: int,
        dt: float,
        bias: bool,
        readout_bias: bool,
    ) -> None:
        super().__init__()
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.input_size = check_positive_int("input_size", input_size)
        self.output_size = check_positive_int("output_size", output_size)
        self.dt = check_positive_float("dt", dt)
        self.bias = check_flag("bias", bias)
        self.readout_bias = check_flag("readout_bias", readout_bias)
        m, blocks = self.hidden_size, self._gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(blocks, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(blocks, m))
        if self.bias:
            self.bias_ih = nn.Parameter(torch.empty(blocks))
            self.bias_hh = nn.Parameter(torch.empty(blocks))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(m)
        for tensor in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if tensor is not None:
                nn.init.uniform_(tensor, -bound, bound)
        self.readout = nn.Linear(m, self.output_size, bias=self.readout_bias)

    def _input_projection(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, T, d) -> (batch, T, gates*m)``: ``W x + b_ih`` for every step."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def _hidden_projection(self, h: torch.Tensor) -> torch.Tensor:
        """``(batch, m) -> (batch, gates*m)``: ``U h + b_hh``."""
        return nn.functional.linear(h, self.weight_hh, self.bias_hh)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, T, input_size) -> (batch, T, output_size)``: readout of ``h_1..h_T``."""
        return self.readout(self.hidden_states(x))

    def config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-friendly dict (``build_model`` rebuilds the model)."""
        return {
            "model": type(self).__name__,
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "dt": self.dt,
            "bias": self.bias,
            "readout_bias": self.readout_bias,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _ContinuousGated:
        """Build a fresh (randomly initialised) model from ``config()`` output."""
        if config.get("model", cls.__name__) != cls.__name__:
            raise ValueError(f"config is for model {config['model']!r}, not {cls.__name__!r}")
        return cls(**{key: value for key, value in config.items() if key != "model"})

    def _copy_torch_weights(self, cell: nn.Module, negate_rows: slice | None) -> None:
        with torch.no_grad():
            names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
            for name in names:
                source = getattr(cell, f"{name}_l0").detach().clone()
                if negate_rows is not None:
                    source[negate_rows] = -source[negate_rows]
                getattr(self, name).copy_(source)

    @staticmethod
    def _check_torch_module(module: Any, expected: type[nn.Module]) -> None:
        if not isinstance(module, expected):
            raise TypeError(f"expected a torch.nn.{expected.__name__}, got {type(module).__name__}")
        if module.num_layers != 1 or module.bidirectional:
            raise ValueError(
                f"only single-layer, unidirectional torch.nn.{expected.__name__} can be copied "
                f"(got num_layers={module.num_layers}, bidirectional={module.bidirectional})"
            )
        if getattr(module, "proj_size", 0):
            raise ValueError("torch.nn.LSTM with proj_size > 0 cannot be copied")


class ContinuousGRU(_ContinuousGated):
    """Continuous-time GRU ``dh/dt = z * (h_hat - h)`` (paper eqs 131-140), forward Euler.

    Parameters
    ----------
    hidden_size, input_size, output_size: sizes (>= 1).
    dt: Euler step (> 0); ``dt = 1`` is the discrete GRU (eq 134).
    bias: use ``bias_ih`` / ``bias_hh``.
    readout_bias: bias of the linear readout.
    reset_after: ``False`` (default) is eq 133, ``U_h (r * h)``; ``True`` is the
        ``torch.nn.GRU`` variant ``r * (U_h h + b_hh)``.

    Shapes: ``forward(x)``: ``(batch, T, input_size) -> (batch, T, output_size)``;
    ``weight_ih (3m, d)``, ``weight_hh (3m, m)``, ``bias_ih``/``bias_hh (3m,)``, gate
    rows in the order r, z, h_hat; z is the paper's update gate (eq 131).
    """

    _gates = 3

    def __init__(
        self,
        hidden_size: int,
        input_size: int = 1,
        output_size: int = 1,
        dt: float = 1.0,
        bias: bool = True,
        readout_bias: bool = False,
        reset_after: bool = False,
    ) -> None:
        super().__init__(hidden_size, input_size, output_size, dt, bias, readout_bias)
        self.reset_after = check_flag("reset_after", reset_after)

    def _vector_field(self, h: torch.Tensor, input_part: torch.Tensor) -> torch.Tensor:
        """dh/dt (eq 140) from ``h (batch, m)`` and ``W x + b_ih`` ``(batch, 3m)``."""
        m = self.hidden_size
        hidden_part = self._hidden_projection(h)  # (batch, 3m) = U h + b_hh
        reset = torch.sigmoid(input_part[:, :m] + hidden_part[:, :m])  # eq 132
        update = torch.sigmoid(input_part[:, m : 2 * m] + hidden_part[:, m : 2 * m])  # eq 131
        if self.reset_after:
            candidate_pre = input_part[:, 2 * m :] + reset * hidden_part[:, 2 * m :]
        else:
            w_h = self.weight_hh[2 * m :]  # U_h (m, m)
            b_hh = 0.0 if self.bias_hh is None else self.bias_hh[2 * m :]
            candidate_pre = input_part[:, 2 * m :] + (reset * h) @ w_h.T + b_hh  # eq 133
        candidate = torch.tanh(candidate_pre)
        return update * (candidate - h)  # eq 136

    def vector_field(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """dh/dt at state ``h (batch, m)`` and input ``x (batch, d)``; returns ``(batch, m)``."""
        return self._vector_field(h, nn.functional.linear(x, self.weight_ih, self.bias_ih))

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """``h_1..h_T``, ``(batch, T, m)``: ``h_{k+1} = h_k + dt z_k (h_hat_k - h_k)`` (eq 135)."""
        x = check_model_input(x, self.input_size, self)
        input_parts = self._input_projection(x)  # (batch, T, 3m)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        states = []
        for k in range(x.shape[1]):
            h = h + self.dt * self._vector_field(h, input_parts[:, k])
            states.append(h)
        return torch.stack(states, dim=1)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "reset_after": self.reset_after}

    @classmethod
    def from_torch(
        cls, gru: nn.GRU, dt: float = 1.0, output_size: int = 1, readout_bias: bool = False
    ) -> ContinuousGRU:
        """Copy a single-layer ``torch.nn.GRU`` (``reset_after=True``; z rows negated).

        With ``dt = 1`` the hidden states equal ``gru``'s outputs exactly. The
        readout is freshly initialised. The result has ``gru``'s dtype and device.
        """
        cls._check_torch_module(gru, nn.GRU)
        model = cls(
            gru.hidden_size,
            gru.input_size,
            output_size,
            dt=dt,
            bias=gru.bias,
            readout_bias=readout_bias,
            reset_after=True,
        ).to(gru.weight_hh_l0.device, gru.weight_hh_l0.dtype)
        m = gru.hidden_size
        model._copy_torch_weights(gru, negate_rows=slice(m, 2 * m))
        return model


class ContinuousLSTM(_ContinuousGated):
    """Continuous-time LSTM (our derivation; see the module docstring), semi-implicit Euler.

    Parameters
    ----------
    hidden_size, input_size, output_size: sizes (>= 1).
    dt: Euler step (> 0); ``dt = 1`` is the discrete LSTM.
    bias: use ``bias_ih`` / ``bias_hh``.
    readout_bias: bias of the linear readout.

    Shapes: ``forward(x)``: ``(batch, T, input_size) -> (batch, T, output_size)``;
    ``weight_ih (4m, d)``, ``weight_hh (4m, m)``, ``bias_ih``/``bias_hh (4m,)``, gate
    rows in the order i, f, g, o (as ``torch.nn.LSTM``).
    """

    _gates = 4

    def __init__(
        self,
        hidden_size: int,
        input_size: int = 1,
        output_size: int = 1,
        dt: float = 1.0,
        bias: bool = True,
        readout_bias: bool = False,
    ) -> None:
        super().__init__(hidden_size, input_size, output_size, dt, bias, readout_bias)

    def _gates_at(
        self, h: torch.Tensor, input_part: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gates ``i, f, g, o`` ``(batch, m)`` each, from ``h`` and ``W x + b_ih``."""
        pre = input_part + self._hidden_projection(h)  # (batch, 4m)
        i, f, g, o = pre.chunk(4, dim=-1)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)

    def vector_field(
        self, c: torch.Tensor, h: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(dc/dt, dh/dt)`` at cell ``c``, hidden ``h`` ``(batch, m)``, input ``x (batch, d)``.

        Returns two ``(batch, m)`` tensors.
        """
        i, f, g, o = self._gates_at(h, nn.functional.linear(x, self.weight_ih, self.bias_ih))
        return (f - 1) * c + i * g, o * torch.tanh(c) - h

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """``h_1..h_T``, ``(batch, T, m)``, by the semi-implicit Euler scheme above."""
        x = check_model_input(x, self.input_size, self)
        input_parts = self._input_projection(x)  # (batch, T, 4m)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        c = torch.zeros_like(h)
        states = []
        for k in range(x.shape[1]):
            i, f, g, o = self._gates_at(h, input_parts[:, k])
            c = c + self.dt * ((f - 1) * c + i * g)  # dc/dt = (f - 1) c + i g
            h = h + self.dt * (o * torch.tanh(c) - h)  # dh/dt = o tanh(c) - h, with new c
            states.append(h)
        return torch.stack(states, dim=1)

    @classmethod
    def from_torch(
        cls, lstm: nn.LSTM, dt: float = 1.0, output_size: int = 1, readout_bias: bool = False
    ) -> ContinuousLSTM:
        """Copy a single-layer ``torch.nn.LSTM``; with ``dt = 1`` the hidden states match it.

        The readout is freshly initialised. The result has ``lstm``'s dtype and device.
        """
        cls._check_torch_module(lstm, nn.LSTM)
        model = cls(
            lstm.hidden_size,
            lstm.input_size,
            output_size,
            dt=dt,
            bias=lstm.bias,
            readout_bias=readout_bias,
        ).to(lstm.weight_hh_l0.device, lstm.weight_hh_l0.dtype)
        model._copy_torch_weights(lstm, negate_rows=None)
        return model
