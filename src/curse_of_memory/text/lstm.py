"""LSTM sentiment classifiers (unidirectional, bidirectional, stacked) and their training.

``LSTMSentiment``: word embedding -> ``torch.nn.LSTM`` -> final hidden state(s) ->
linear -> logit of "positive". Unidirectional: the last layer's state after the last
token. Bidirectional: the forward state after the last token and the backward state
after the first token, concatenated (each has read the whole text). Padded batches
run through ``pack_padded_sequence``, so a text's score does not depend on the
padding of the batch it is in.

:class:`LSTMScorer` wraps a trained model and its vocabulary as a ``score_fn`` for
:func:`~curse_of_memory.analysis.repetition.repetition_memory`: the positive-class
probability, computed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from tqdm.auto import tqdm

from curse_of_memory._validation import check_choice, check_positive_float, check_positive_int
from curse_of_memory.text.corpus import LabelledTexts
from curse_of_memory.text.vocabulary import Vocabulary

# name -> (layers, bidirectional); "stacked-bilstm" is the paper's Figure 5(b) model.
LSTM_KINDS: dict[str, tuple[int, bool]] = {
    "lstm": (1, False),
    "bilstm": (1, True),
    "stacked-bilstm": (2, True),
}


class LSTMSentiment(nn.Module):
    """``(ids (batch, L), lengths (batch,)) -> logits (batch,)`` of the positive class.

    Parameters
    ----------
    vocab_size: number of word ids (id 0 is padding).
    embedding_size, hidden_size: widths of the embedding and of each LSTM direction.
    layers: stacked LSTM layers.
    bidirectional: read the text in both directions.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int = 64,
        hidden_size: int = 64,
        layers: int = 1,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(
            check_positive_int("vocab_size", vocab_size),
            check_positive_int("embedding_size", embedding_size),
            padding_idx=0,
        )
        self.lstm = nn.LSTM(
            embedding_size,
            check_positive_int("hidden_size", hidden_size),
            num_layers=check_positive_int("layers", layers),
            bidirectional=bool(bidirectional),
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch,)``; ``ids`` ``(batch, L)`` padded with 0, ``lengths`` ``(batch,)``."""
        packed = pack_padded_sequence(
            self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (final, _) = self.lstm(packed)  # final: (layers * directions, batch, hidden)
        if self.lstm.bidirectional:
            features = torch.cat([final[-2], final[-1]], dim=1)  # forward, backward
        else:
            features = final[-1]
        return self.head(features).squeeze(1)


@dataclass(frozen=True)
class SentimentTraining:
    """Settings of :func:`train_sentiment_lstm`."""

    epochs: int = 4
    lr: float = 3e-3
    batch_size: int = 64
    max_length: int = 50
    min_count: int = 2

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_float("lr", self.lr)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_length", self.max_length)
        check_positive_int("min_count", self.min_count)


def split_indices(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Stratified 70 / 10 / 20 % train / validation / test indices (seeded)."""
    from curse_of_memory.data.sequences import stratified_holdout

    rest, test = stratified_holdout(labels, 0.2, seed=seed)
    train, val = stratified_holdout(labels[rest], 0.125, seed=seed + 1)
    return {"train": rest[train], "val": rest[val], "test": test}


def _evaluate(model: LSTMSentiment, ids: torch.Tensor, lengths: torch.Tensor, labels) -> dict:
    """Accuracy and balanced accuracy (mean of the per-class recalls)."""
    model.eval()
    with torch.no_grad():
        predicted = (model(ids, lengths) > 0).long()
    labels = torch.as_tensor(labels)
    recalls = [float((predicted[labels == c] == c).float().mean()) for c in (0, 1)]
    return {
        "accuracy": float((predicted == labels).float().mean()),
        "balanced_accuracy": float(np.mean(recalls)),
    }


def train_sentiment_lstm(
    kind: str,
    corpus: LabelledTexts,
    settings: SentimentTraining | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[LSTMScorer, dict]:
    """Train an LSTM sentiment classifier of ``kind`` (one of :data:`LSTM_KINDS`).

    The loss is class-weighted binary cross-entropy (positives weighted by
    #negatives / #positives, so the score is not pulled towards the majority class);
    Adam, gradient norm clipped at 1. Returns the scorer and a report with the split
    sizes, the per-epoch training loss and the validation and test accuracies.
    """
    check_choice("kind", kind, LSTM_KINDS)
    settings = SentimentTraining() if settings is None else settings
    layers, bidirectional = LSTM_KINDS[kind]
    parts = split_indices(corpus.labels, seed=0)  # the same split for every model and seed
    train = corpus.subset(parts["train"])
    vocabulary = Vocabulary.build(train.tokens, settings.min_count)
    encoded = {
        name: (*vocabulary.encode(corpus.subset(index).tokens, settings.max_length),
               torch.from_numpy(corpus.labels[index]))
        for name, index in parts.items()
    }  # fmt: skip
    torch.manual_seed(seed)
    model = LSTMSentiment(len(vocabulary), layers=layers, bidirectional=bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    ids, lengths, labels = encoded["train"]
    positive = float(labels.float().mean())
    pos_weight = torch.tensor((1 - positive) / positive)
    order_generator = torch.Generator().manual_seed(seed)
    epoch_losses = []
    steps = settings.epochs * math.ceil(labels.numel() / settings.batch_size)
    with tqdm(total=steps, desc=f"train {kind}", disable=not progress, leave=False) as bar:
        for _ in range(settings.epochs):
            model.train()
            order = torch.randperm(labels.numel(), generator=order_generator)
            total = 0.0
            for start in range(0, labels.numel(), settings.batch_size):
                batch = order[start : start + settings.batch_size]
                width = int(lengths[batch].max())
                logits = model(ids[batch, :width], lengths[batch])
                loss = F.binary_cross_entropy_with_logits(
                    logits, labels[batch].float(), pos_weight=pos_weight
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                total += float(loss.detach()) * batch.numel()
                bar.update(1)
            epoch_losses.append(total / labels.numel())
    report = {
        "kind": kind,
        "corpus": corpus.source,
        "split_sizes": {name: int(index.size) for name, index in parts.items()},
        "positive_fraction_train": positive,
        "vocabulary_size": len(vocabulary),
        "epoch_train_losses": epoch_losses,
        "val": _evaluate(model, *encoded["val"]),
        "test": _evaluate(model, *encoded["test"]),
    }
    return LSTMScorer(model, vocabulary), report


class LSTMScorer:
    """Positive-class probability of a trained :class:`LSTMSentiment`, as a ``score_fn``.

    Words outside the vocabulary raise (a query of an unknown word would only measure
    the memory of the "unknown" token).
    """

    def __init__(self, model: LSTMSentiment, vocabulary: Vocabulary) -> None:
        self.model = model.double().eval()
        self.vocabulary = vocabulary

    def __call__(self, sequences: Sequence[Sequence[str]]) -> np.ndarray:
        """``(n,)`` probabilities that each token sequence is positive."""
        unknown = sorted({w for seq in sequences for w in seq if w not in self.vocabulary})
        if unknown:
            raise ValueError(
                f"word(s) not in the sentiment model's vocabulary: {', '.join(unknown[:5])}"
            )
        ids, lengths = self.vocabulary.encode(sequences)
        with torch.no_grad():
            return torch.sigmoid(self.model(ids, lengths)).numpy()
