"""Plain-torch forwards for ``torch.nn.RNN`` / ``GRU`` / ``LSTM`` so that vmap can batch them.

The built-in modules call fused ATen ops (``aten::rnn_tanh`` ...) that have no
vmap batching rule. Inside :func:`plain_recurrent_forwards` every such submodule
temporarily gets an instance-level ``forward`` that computes the same recurrence
with elementary ops (PyTorch's documented gate equations). Weights are read from
the module's attributes, so ``torch.func.functional_call`` substitutes batched
weights as usual (used to evaluate many perturbed copies of a model in one pass).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
from torch import nn

_RECURRENT_TYPES = (nn.RNN, nn.GRU, nn.LSTM)


def _cell(module: nn.RNNBase, x: torch.Tensor, state, layer: int, suffix: str):
    """One time step of one layer/direction. ``x``: ``(batch, in)``; returns the new state."""
    w_ih = getattr(module, f"weight_ih_l{layer}{suffix}")
    w_hh = getattr(module, f"weight_hh_l{layer}{suffix}")
    gi = x @ w_ih.transpose(-1, -2)
    h = state[0] if isinstance(state, tuple) else state
    gh = h @ w_hh.transpose(-1, -2)
    if module.bias:
        gi = gi + getattr(module, f"bias_ih_l{layer}{suffix}")
        gh = gh + getattr(module, f"bias_hh_l{layer}{suffix}")
    if isinstance(module, nn.GRU):  # r, z, n gates
        ir, iz, i_n = gi.chunk(3, dim=-1)
        hr, hz, h_n = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h
    if isinstance(module, nn.LSTM):  # i, f, g, o gates
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    pre = gi + gh
    return torch.tanh(pre) if module.nonlinearity == "tanh" else torch.relu(pre)


def _recurrent_forward(module: nn.RNNBase, input: torch.Tensor, hx=None):
    """Same outputs as the module's own forward, from elementary torch ops."""
    if not isinstance(input, torch.Tensor):
        raise NotImplementedError("packed sequences are not supported by the vmap forward")
    if getattr(module, "proj_size", 0):
        raise NotImplementedError("LSTM proj_size is not supported by the vmap forward")
    if module.training and module.dropout > 0 and module.num_layers > 1:
        raise NotImplementedError("inter-layer dropout in training mode is not supported")
    lstm = isinstance(module, nn.LSTM)
    unbatched = input.dim() == 2
    x = input.unsqueeze(1 if module.batch_first else 0) if unbatched else input
    x = x if module.batch_first else x.transpose(0, 1)  # (batch, T, in)
    directions = 2 if module.bidirectional else 1
    batch, length = x.shape[0], x.shape[1]
    if hx is None:
        zeros = x.new_zeros(module.num_layers * directions, batch, module.hidden_size)
        hx = (zeros, zeros) if lstm else zeros
    elif unbatched:
        hx = tuple(h.unsqueeze(1) for h in hx) if lstm else hx.unsqueeze(1)
    finals_h, finals_c = [], []
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            state = (hx[0][index], hx[1][index]) if lstm else hx[index]
            steps = range(length) if direction == 0 else range(length - 1, -1, -1)
            suffix = "_reverse" if direction == 1 else ""
            hs = []
            for k in steps:
                state = _cell(module, x[:, k], state, layer, suffix)
                hs.append(state[0] if lstm else state)
            if direction == 1:
                hs.reverse()
            outputs.append(torch.stack(hs, dim=1))
            finals_h.append(state[0] if lstm else state)
            if lstm:
                finals_c.append(state[1])
        x = torch.cat(outputs, dim=-1)  # (batch, T, directions * hidden)
    out = x if module.batch_first else x.transpose(0, 1)
    h_n = torch.stack(finals_h)
    final = (h_n, torch.stack(finals_c)) if lstm else h_n
    if unbatched:
        out = out.squeeze(0 if module.batch_first else 1)
        final = tuple(f.squeeze(1) for f in final) if lstm else final.squeeze(1)
    return out, final


@contextlib.contextmanager
def plain_recurrent_forwards(model: nn.Module) -> Iterator[int]:
    """Temporarily give every ``nn.RNN``/``GRU``/``LSTM`` submodule the plain-torch forward.

    Yields the number of patched submodules; the original forwards are restored on exit.
    """
    patched = [m for m in model.modules() if isinstance(m, _RECURRENT_TYPES)]
    for module in patched:
        module.forward = types.MethodType(_recurrent_forward, module)
    try:
        yield len(patched)
    finally:
        for module in patched:
            del module.forward
