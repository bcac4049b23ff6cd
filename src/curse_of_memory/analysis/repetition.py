"""Memory of a sequence model queried with one token repeated k times (paper Appendix B).

For a scorer ``s`` (e.g. the sentiment score of a text model) and a token (or a short
group of tokens) ``w``, let ``s_k = s(w repeated k times)``. The repetition memory is
the change of the score per added repetition,

    M(k) = |s_{k+1} - s_k|,    k = 1, ..., K - 1,

the discrete derivative of the score over the input length that the paper plots in
Figures 5 and 6 (the input is a Heaviside-like sequence of constant tokens, so this is
the discrete Heaviside memory of Definition 3.1 read off the final score). The result
has ``.t`` and ``.values`` like a memory function, so
:func:`~curse_of_memory.analysis.decay.fit_decay` classifies its decay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curse_of_memory._validation import check_positive_int

ScoreFn = Callable[[list[list[Any]]], Sequence[float]]


@dataclass
class RepetitionMemory:
    """Scores of repeated inputs and their discrete derivative.

    Attributes
    ----------
    tokens: the repeated unit.
    repeats: ``(K,)`` repetition counts ``1..K``.
    scores: ``(K,)`` score of each repeated input, ``s_1..s_K``.
    t: ``(K - 1,)`` repetition counts ``1..K-1`` at which the memory is reported.
    values: ``(K - 1,)`` memory ``|s_{k+1} - s_k|``.
    label: a name for plots and tables.
    """

    tokens: list[Any]
    repeats: np.ndarray
    scores: np.ndarray
    t: np.ndarray
    values: np.ndarray
    label: str = ""
    meta: dict = field(default_factory=dict)

    def tail_fraction(self) -> float:
        """Median memory over the second half of the repeats, relative to the peak memory.

        Small (e.g. 1e-6) for a memory that has died out, near 1 for a non-decaying one.
        """
        peak = float(self.values.max())
        tail = self.values[self.values.size // 2 :]
        return float(np.median(tail)) / peak if peak > 0 else 0.0

    def sign_change_fraction(self) -> float:
        """Fraction of consecutive non-zero score increments ``s_{k+1} - s_k`` that change sign.

        0 for a monotone score (a smoothly decaying response); large for a fluctuating one.
        """
        signs = np.sign(np.diff(self.scores))
        signs = signs[signs != 0]
        if signs.size < 2:
            return 0.0
        return float(np.mean(signs[1:] != signs[:-1]))

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {
            "tokens": [str(token) for token in self.tokens],
            "label": self.label,
            "repeats": self.repeats.tolist(),
            "scores": self.scores.tolist(),
            "t": self.t.tolist(),
            "memory": self.values.tolist(),
            "meta": dict(self.meta),
        }


def _as_token_list(tokens: Any) -> list[Any]:
    if isinstance(tokens, str):
        if not tokens:
            raise ValueError("tokens must not be empty")
        return [tokens]
    if not isinstance(tokens, Sequence) or len(tokens) == 0:
        raise TypeError(f"tokens must be a token or a non-empty sequence of tokens, got {tokens!r}")
    return list(tokens)


def repetition_memory(
    score_fn: ScoreFn,
    tokens: Any,
    max_repeats: int,
    *,
    batch_size: int = 64,
    label: str | None = None,
) -> RepetitionMemory:
    """Query ``score_fn`` with ``tokens`` repeated ``1..max_repeats`` times.

    Parameters
    ----------
    score_fn: maps a list of token sequences (lists) to one finite score per sequence,
        e.g. a sentiment model's positive-class probability.
    tokens: the repeated unit: one token (a string) or a sequence of tokens.
    max_repeats: K >= 3, the longest input has K copies of ``tokens``.
    batch_size: sequences per ``score_fn`` call.
    label: name of the curve (default: the tokens joined by spaces).

    Returns
    -------
    RepetitionMemory with ``t = 1..K-1`` and ``values = |s_{k+1} - s_k|``.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable, got {type(score_fn).__name__}")
    unit = _as_token_list(tokens)
    max_repeats = check_positive_int("max_repeats", max_repeats)
    if max_repeats < 3:
        raise ValueError(f"max_repeats must be >= 3 (two memory values), got {max_repeats}")
    batch_size = check_positive_int("batch_size", batch_size)
    repeats = np.arange(1, max_repeats + 1)
    scores = []
    for start in range(0, max_repeats, batch_size):
        batch = [unit * int(k) for k in repeats[start : start + batch_size]]
        out = np.asarray(score_fn(batch), dtype=np.float64).reshape(-1)
        if out.shape != (len(batch),):
            raise ValueError(
                f"score_fn returned {out.size} scores for {len(batch)} sequences (need one each)"
            )
        scores.append(out)
    scores = np.concatenate(scores)
    if not np.all(np.isfinite(scores)):
        first = int(repeats[np.flatnonzero(~np.isfinite(scores))[0]])
        raise ValueError(f"score_fn returned a non-finite score for {first} repetitions")
    return RepetitionMemory(
        tokens=unit,
        repeats=repeats,
        scores=scores,
        t=repeats[:-1].astype(np.float64),
        values=np.abs(np.diff(scores)),
        label=" ".join(str(token) for token in unit) if label is None else label,
    )
