"""Compiled CPU loops (numba) for K RNN layers and their backward pass through time.

    drive_k = U x_k + b,  h_{k+1} = h_k + dt sigma(W h_k + drive_k),  y_k = C h_{k+1} + d
                                                              (paper eq 3, Euler, h_0 = 0)

A bare recurrence is the same layer with identity input and readout maps (``drive =
x``, ``y = h``). The loops take a leading model axis K (layers with their own
weights, e.g. perturbed copies of one model; K = 1 for a single layer) and run in
parallel (``prange``) over K times the *tasks*: groups of up to ``task_rows``
sequences advanced together. For dense W the state of a task is a ``(rows, m)``
matrix, so the coupling of the whole task is one small matrix product per step
(numba's ``np.dot`` calls BLAS); per-sequence mat-vecs, or hand-written loops over a
short row axis, do not vectorise.

Every per-sequence array is ``(K, slots, T, R, features)``: sequence ``s`` is row
``s % R`` of slot ``s // R``. The two kinds of call use two layouts:

* a recurrence (identity maps), ``R = 1``: slots are sequences, a plain
  ``(K, B, T, features)`` tensor viewed with one more axis, so its large drive and
  states are not copied; a task is one sequence (diagonal W) or ``task_rows``;
* a layer (input map and readout), ``R = task_rows`` (blocked, time-major): a task is
  one slot, whose rows for one step are one contiguous ``(R, features)`` matrix (see
  BENCHMARKS.md); its inputs and outputs are narrow, so the copies are cheap. Rows of a
  ragged last block that hold no sequence are zeros in the states, sigma' and delta
  (the weight gradient sums over them) and are not written in the outputs.

Helpers index 0-based 1-D views (``for i in range(n): view[i]``): numba wraps
negative indices, and with an offset index (``flat[base + i]``) LLVM cannot prove the
index non-negative and keeps the loop scalar. ``fastmath`` is off so float64 results
agree with the torch reference to rounding; ``error_model="numpy"`` (IEEE division,
no ZeroDivisionError check) lets LLVM vectorise element-wise loops. Derivatives follow
torch's autograd conventions at the kinks (hardtanh' = 0 at +-1, relu' = 0 at 0).
"""

from __future__ import annotations

import numba
import numpy as np

from curse_of_memory.kernels._numba_cache import cached_njit
from curse_of_memory.kernels._numba_math import fast_tanh

_inline = numba.njit(inline="always", error_model="numpy")


@_inline
def _activate(pre, code, sig, dsig):
    """``sig[i] = sigma(pre[i])`` and (except for linear) ``dsig[i] = sigma'(pre[i])``.

    1-D arrays of one dtype; the constants take that dtype so float32 stays float32.
    Codes: :data:`curse_of_memory.kernels.activations.ACTIVATION_CODES`.
    """
    m = pre.shape[0]
    one = pre.dtype.type(1.0)
    zero = pre.dtype.type(0.0)
    if code == 1:
        for i in range(m):
            s = fast_tanh(pre[i])
            sig[i] = s
            dsig[i] = one - s * s
    elif code == 2:
        for i in range(m):
            z = pre[i]
            sig[i] = min(max(z, -one), one)
            dsig[i] = one if (z > -one and z < one) else zero
    elif code == 3:
        for i in range(m):
            z = pre[i]
            sig[i] = max(z, zero)
            dsig[i] = one if z > zero else zero
    else:  # linear: sigma' = 1 is never stored
        for i in range(m):
            sig[i] = pre[i]


@_inline
def _width(diagonal, weight):
    """``(dense, m)``: whether W is dense (``weight`` ``(K, m, m)``, not ``(K, 0, 0)``), and m."""
    dense = weight.shape[1] > 0
    return dense, weight.shape[1] if dense else diagonal.shape[1]


@_inline
def _task(n, n_tasks, task_rows, batch, rows):
    """Parallel iteration ``n`` -> ``(model, task, slot, count)``: the task's first
    sequence is in ``slot`` (``rows`` rows per slot), and it has ``count`` sequences."""
    model, task = n // n_tasks, n % n_tasks
    first = task * task_rows
    return model, task, first // rows, min(task_rows, batch - first)


@_inline
def _row(array, model, slot, b, k):
    """Row ``b`` of the task starting at ``slot``, step ``k``: a 1-D ``(features,)`` view."""
    if array.shape[3] == 1:
        return array[model, slot + b, k, 0]
    return array[model, slot, k, b]


@_inline
def _steps(array, model, slot, unused):
    """The task's rows at every step as ``(T, R * f)`` (blocked layout), so that a step's
    rows are one flat view, not a reshape per step; ``unused`` (a ``(0, 0)`` array of the
    same dtype) for R = 1 or an array that is not filled."""
    if array.shape[0] == 0 or array.shape[3] == 1:
        return unused
    return array[model, slot].reshape(array.shape[2], array.shape[3] * array.shape[4])


@_inline
def _store_rows(array, steps, model, slot, k, source, source_flat):
    """Write the task's rows ``source`` ``(count, f)`` (``source_flat``: the same, flat)
    at step ``k``; ``steps``: :func:`_steps` of ``array``. Padding rows get zeros."""
    count, features = source.shape
    if array.shape[3] == 1:
        for b in range(count):
            target, values = array[model, slot + b, k, 0], source[b]
            for i in range(features):
                target[i] = values[i]
        return
    flat = steps[k]
    size = count * features
    for e in range(size):
        flat[e] = source_flat[e]
    for e in range(size, flat.shape[0]):
        flat[e] = 0.0


@_inline
def _add_rows(target, array, model, slot, k):
    """``target[b] += row b`` of ``array`` at step ``k`` for the task's ``count`` rows."""
    count, features = target.shape
    for b in range(count):
        source, values = _row(array, model, slot, b, k), target[b]
        for i in range(features):
            values[i] += source[i]


@_inline
def _readout_rows(h, readout, readout_bias, out, accumulator):
    """``out[b, o] = d_o + sum_i C[o, i] h[b, i]`` (``d`` may be empty: no bias).

    The rows are the innermost loop: ``count`` independent sums (no loop-carried
    dependency through one accumulator), cheap even without SIMD.
    """
    count, m = h.shape
    has_bias = readout_bias.shape[0] > 0
    zero = h.dtype.type(0.0)
    for o in range(readout.shape[0]):
        row = readout[o]
        start = readout_bias[o] if has_bias else zero
        for b in range(count):
            accumulator[b] = start
        for i in range(m):
            weight = row[i]
            for b in range(count):
                accumulator[b] += weight * h[b, i]
        for b in range(count):
            out[b, o] = accumulator[b]


@cached_njit(parallel=True, error_model="numpy")
def layer_forward(
    x,
    input_t,
    bias,
    diagonal,
    weight_t,
    readout,
    readout_bias,
    dt,
    code,
    batch,
    task_rows,
    outputs,
    states,
    derivative,
):
    """Outputs y (and, for the backward pass, states and sigma') of K layers.

    Parameters
    ----------
    x: ``(Kx, slots, T, R, d)`` inputs; ``Kx = 1``: shared by all models.
    input_t: ``(K, d, m)`` transposed input matrices, ``input_t[k, j, i] = U_k[i, j]``,
        or ``(K, 0, m)``: identity input map (``x`` is the drive, d = m).
    bias: ``(K, m)`` input biases b_k, or ``(K, 0)``: none.
    diagonal: ``(K, m)`` diagonals of W_k, used when ``weight_t`` is ``(K, 0, 0)``.
    weight_t: ``(K, m, m)`` transposed dense W_k, ``weight_t[k, j, i] = W_k[i, j]``, or
        ``(K, 0, 0)``.
    readout: ``(K, p, m)`` readout matrices C_k (blocked layout only), or ``(K, 0, m)``:
        identity (y = h).
    readout_bias: ``(K, p)`` d_k, or ``(K, 0)``: none.
    dt: Euler step (dtype of ``x``).
    code: activation code.
    batch: number of sequences B.
    task_rows: sequences per task (R, or any count when R = 1).
    outputs: ``(K, slots, T, R, p)`` output y_k = C h_{k+1} + d (h_{k+1} for identity).
    states: ``(K, slots, T, R, m)`` output h_1..h_T, or an empty ``(0, 0, 0, 0, 0)``
        array when not needed (no gradient, or identity readout: then y holds them).
    derivative: ``(K, slots, T, R, m)`` output sigma'(W h_k + drive_k), or empty
        when not needed (no gradient, or linear).
    """
    length, n_models = x.shape[2], diagonal.shape[0]
    dense, m = _width(diagonal, weight_t)
    identity_input = input_t.shape[1] == 0
    identity_readout = readout.shape[1] == 0
    has_bias = bias.shape[1] > 0
    store_states = states.shape[0] > 0
    store_derivative = derivative.shape[0] > 0
    shared_x = x.shape[0] == 1
    n_tasks = (batch + task_rows - 1) // task_rows
    no_steps = np.empty((0, 0), dtype=x.dtype)
    for n in numba.prange(n_models * n_tasks):
        model, task, slot, count = _task(n, n_tasks, task_rows, batch, x.shape[3])
        x_model = 0 if shared_x else model
        size = count * m
        lam, w_t, u_t, b_in = diagonal[model], weight_t[model], input_t[model], bias[model]
        c, d = readout[model], readout_bias[model]
        h = np.zeros((count, m), dtype=x.dtype)
        pre = np.empty((count, m), dtype=x.dtype)
        sig = np.empty((count, m), dtype=x.dtype)
        dsig = np.empty((count, m), dtype=x.dtype)
        h_flat, pre_flat = h.reshape(size), pre.reshape(size)
        sig_flat, dsig_flat = sig.reshape(size), dsig.reshape(size)
        accumulator = np.empty(count, dtype=x.dtype)
        output_steps = _steps(outputs, model, slot, no_steps)
        state_steps = _steps(states, model, slot, no_steps)
        derivative_steps = _steps(derivative, model, slot, no_steps)
        for k in range(length):
            if dense:
                np.dot(h, w_t, pre)  # row b: (W h_b)^T
                if identity_input:  # + drive_k
                    _add_rows(pre, x, x_model, slot, k)
            elif identity_input:  # W h + drive_k, one pass
                for b in range(count):
                    h_b, pre_b, x_b = h[b], pre[b], _row(x, x_model, slot, b, k)
                    for i in range(m):
                        pre_b[i] = lam[i] * h_b[i] + x_b[i]
            else:
                for b in range(count):
                    h_b, pre_b = h[b], pre[b]
                    for i in range(m):
                        pre_b[i] = lam[i] * h_b[i]
            if not identity_input:  # + U x_k + b
                for b in range(count):
                    pre_b, x_b = pre[b], _row(x, x_model, slot, b, k)
                    if has_bias:
                        for i in range(m):
                            pre_b[i] += b_in[i]
                    for j in range(u_t.shape[0]):
                        x_bj, column = x_b[j], u_t[j]
                        for i in range(m):
                            pre_b[i] += x_bj * column[i]
            _activate(pre_flat, code, sig_flat, dsig_flat)
            if identity_readout and outputs.shape[3] == 1:  # Euler and y = h, one pass
                for b in range(count):
                    h_b, s_b, y_b = h[b], sig[b], outputs[model, slot + b, k, 0]
                    for i in range(m):
                        h_b[i] += dt * s_b[i]
                        y_b[i] = h_b[i]
            else:
                for e in range(size):  # paper eq 3, Euler
                    h_flat[e] += dt * sig_flat[e]
                if identity_readout:
                    _store_rows(outputs, output_steps, model, slot, k, h, h_flat)
                else:  # blocked layout: the step's rows are one (R, p) matrix
                    _readout_rows(h, c, d, outputs[model, slot, k], accumulator)
            if store_states:
                _store_rows(states, state_steps, model, slot, k, h, h_flat)
            if store_derivative:
                _store_rows(derivative, derivative_steps, model, slot, k, dsig, dsig_flat)


@cached_njit(parallel=True, error_model="numpy")
def layer_backward(
    grad_y,
    x,
    states,
    derivative,
    readout,
    diagonal,
    weight,
    dt,
    batch,
    task_rows,
    delta_all,
    grad_input_t,
    grad_bias,
    grad_readout,
    grad_diagonal,
):
    """Backward pass through time of K layers, partial parameter gradients per task.

    With ``g_{k+1} = dL/dh_{k+1} = C^T grad_y_k + W^T delta_{k+1} + g_{k+2}`` and
    ``delta_k = dt sigma'_k g_{k+1}`` (the gradient w.r.t. the pre-activation, which is
    the gradient w.r.t. the drive), writes every ``delta`` to ``delta_all`` and
    accumulates per task ``dL/dU^T = sum delta x^T`` (stored ``(d, m)``),
    ``dL/db = sum delta``, ``dL/dC = sum grad_y h^T`` and, for diagonal W,
    ``dL/dlambda = sum_{k >= 1} delta_k h_k`` (h_k: the state before step k). The
    dense-W gradient is formed from ``delta_all`` outside (one matrix product).

    Parameters
    ----------
    grad_y: ``(K, slots, T, R, p)`` dL/dy (any strides; padding rows zero).
    x: as in :func:`layer_forward`.
    states: ``(K, slots, T, R, m)`` h_1..h_T (the outputs, for an identity readout).
    derivative: sigma' from the forward pass, or ``(0, 0, 0, 0, 0)`` for linear (sigma' = 1).
    readout: ``(K, p, m)`` readout matrices C_k, or ``(K, 0, m)`` (identity).
    diagonal: ``(K, m)`` diagonals of W_k, used when ``weight`` is ``(K, 0, 0)``.
    weight: ``(K, m, m)`` dense W_k (row major) or ``(K, 0, 0)``.
    dt, batch, task_rows: as in :func:`layer_forward`.
    delta_all: ``(K, slots, T, R, m)`` output.
    grad_input_t: ``(K, tasks, d, m)``, grad_bias ``(K, tasks, m)``, grad_readout
        ``(K, tasks, p, m)``, grad_diagonal ``(K, tasks, m)``: per-task outputs; a zero
        third axis skips that gradient.
    """
    length, n_models = x.shape[2], diagonal.shape[0]
    dense, m = _width(diagonal, weight)
    identity_readout = readout.shape[1] == 0
    unit_derivative = derivative.shape[0] == 0
    need_input = grad_input_t.shape[2] > 0
    need_bias = grad_bias.shape[2] > 0
    need_readout = grad_readout.shape[2] > 0
    need_diagonal = grad_diagonal.shape[2] > 0
    shared_x = x.shape[0] == 1
    n_tasks = (batch + task_rows - 1) // task_rows
    no_steps = np.empty((0, 0), dtype=x.dtype)
    for n in numba.prange(n_models * n_tasks):
        model, task, slot, count = _task(n, n_tasks, task_rows, batch, x.shape[3])
        x_model = 0 if shared_x else model
        size = count * m
        lam, w, c = diagonal[model], weight[model], readout[model]
        g = np.zeros((count, m), dtype=x.dtype)  # row b: dL/dh of sequence b
        delta = np.empty((count, m), dtype=x.dtype)
        coupled = np.empty((count, m), dtype=x.dtype)
        g_flat, delta_flat = g.reshape(size), delta.reshape(size)
        coupled_flat = coupled.reshape(size)
        delta_steps = _steps(delta_all, model, slot, no_steps)
        derivative_steps = _steps(derivative, model, slot, no_steps)
        gu, gb = grad_input_t[model, task], grad_bias[model, task]
        gc, gd = grad_readout[model, task], grad_diagonal[model, task]
        gu[:] = 0.0
        gb[:] = 0.0
        gc[:] = 0.0
        gd[:] = 0.0
        for k in range(length - 1, -1, -1):
            if identity_readout:  # g += grad_y_k
                _add_rows(g, grad_y, model, slot, k)
            else:  # g += C^T grad_y_k, dL/dC += grad_y_k h^T
                for b in range(count):
                    g_b, h_b = g[b], _row(states, model, slot, b, k)
                    gy_b = _row(grad_y, model, slot, b, k)
                    for o in range(c.shape[0]):
                        gy, row = gy_b[o], c[o]
                        for i in range(m):
                            g_b[i] += gy * row[i]
                        if need_readout:
                            grad_row = gc[o]
                            for i in range(m):
                                grad_row[i] += gy * h_b[i]
            if unit_derivative:
                for e in range(size):
                    delta_flat[e] = dt * g_flat[e]
            elif derivative.shape[3] > 1:  # blocked: the step's sigma' rows are one flat view
                slope = derivative_steps[k]
                for e in range(size):
                    delta_flat[e] = dt * slope[e] * g_flat[e]
            else:
                for b in range(count):
                    slope, g_b, delta_b = _row(derivative, model, slot, b, k), g[b], delta[b]
                    for i in range(m):
                        delta_b[i] = dt * slope[i] * g_b[i]
            _store_rows(delta_all, delta_steps, model, slot, k, delta, delta_flat)
            if need_bias or need_input:  # input map: dL/db, dL/dU^T
                for b in range(count):
                    d_b = delta[b]
                    if need_bias:
                        for i in range(m):
                            gb[i] += d_b[i]
                    if need_input:
                        x_b = _row(x, x_model, slot, b, k)
                        for j in range(gu.shape[0]):
                            x_bj, grad_column = x_b[j], gu[j]
                            for i in range(m):
                                grad_column[i] += x_bj * d_b[i]
            if dense:
                np.dot(delta, w, coupled)  # row b: (W^T delta_b)^T
                for e in range(size):
                    g_flat[e] += coupled_flat[e]
            else:
                for b in range(count):
                    d_b, g_b = delta[b], g[b]
                    for i in range(m):
                        g_b[i] += lam[i] * d_b[i]
                if need_diagonal and k > 0:  # dL/dlambda_i = sum_k delta_{k,i} h_{k,i}
                    for b in range(count):
                        d_b, h_b = delta[b], _row(states, model, slot, b, k - 1)
                        for i in range(m):
                            gd[i] += d_b[i] * h_b[i]
