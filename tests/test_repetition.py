"""Repetition memory (paper Appendix B) against closed-form scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curse_of_memory.analysis import fit_decay
from curse_of_memory.analysis.repetition import repetition_memory


def _count_score(fn):
    """A score_fn whose score depends only on the number of tokens."""
    return lambda sequences: [fn(len(seq)) for seq in sequences]


def test_geometric_score_gives_exact_exponential_memory():
    # s_k = 1 - 0.8^k  =>  |s_{k+1} - s_k| = 0.2 * 0.8^k
    memory = repetition_memory(_count_score(lambda k: 1 - 0.8**k), "good", 60)
    k = np.arange(1, 60)
    np.testing.assert_allclose(memory.t, k)
    np.testing.assert_allclose(memory.values, 0.2 * 0.8**k, rtol=1e-9)
    np.testing.assert_allclose(memory.scores, 1 - 0.8 ** np.arange(1, 61))
    fit = fit_decay(memory)
    assert fit.law == "exponential"
    assert fit.to_dict()["rate"] == pytest.approx(math.log(1.25), rel=1e-6)


def test_harmonic_score_gives_polynomial_memory():
    # s_k = -1/k  =>  |s_{k+1} - s_k| = 1 / (k (k + 1)), a power law of exponent 2
    memory = repetition_memory(_count_score(lambda k: -1.0 / k), ["ha"], 200, batch_size=7)
    k = np.arange(1, 200)
    np.testing.assert_allclose(memory.values, 1.0 / (k * (k + 1)), rtol=1e-9)
    assert fit_decay(memory).law == "polynomial"


def test_sequences_are_the_unit_repeated_and_batched():
    seen = []

    def score(sequences):
        seen.extend(sequences)
        return [float(len(s)) for s in sequences]

    memory = repetition_memory(score, ["not", "bad"], 5, batch_size=2)
    assert seen == [["not", "bad"] * k for k in range(1, 6)]
    np.testing.assert_array_equal(memory.values, [2, 2, 2, 2])
    assert memory.label == "not bad" and memory.to_dict()["tokens"] == ["not", "bad"]


def test_shape_statistics():
    geometric = repetition_memory(_count_score(lambda k: 0.5**k), "a", 41)
    assert geometric.sign_change_fraction() == 0.0  # monotone score
    # memory 0.5^(k+1), k = 1..40; second half 0.5^22..0.5^41, median (0.5^31 + 0.5^32) / 2
    assert geometric.tail_fraction() == pytest.approx(0.75 * 0.5**31 / 0.25, rel=1e-12)
    alternating = repetition_memory(_count_score(lambda k: (-1) ** k), "a", 20)
    assert alternating.sign_change_fraction() == 1.0 and alternating.tail_fraction() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"score_fn": 3}, TypeError, "score_fn must be callable"),
        ({"tokens": ""}, ValueError, "tokens must not be empty"),
        ({"tokens": []}, TypeError, "non-empty sequence"),
        ({"max_repeats": 2}, ValueError, "max_repeats must be >= 3"),
        ({"max_repeats": 2.5}, TypeError, "max_repeats"),
        ({"score_fn": lambda seqs: [1.0]}, ValueError, "returned 1 scores for 5 sequences"),
        ({"score_fn": lambda seqs: [math.nan] * len(seqs)}, ValueError, "non-finite score for 1"),
    ],
)
def test_bad_input_is_refused(kwargs, error, message):
    arguments = {"score_fn": _count_score(float), "tokens": "good", "max_repeats": 5, **kwargs}
    with pytest.raises(error, match=message):
        repetition_memory(**arguments)
