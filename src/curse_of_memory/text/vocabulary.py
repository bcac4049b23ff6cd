"""Word vocabulary: tokens -> integer ids (0 = padding, 1 = unknown)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from curse_of_memory._validation import check_positive_int

PAD, UNKNOWN = "<pad>", "<unk>"


class Vocabulary:
    """Ids of the words seen at least ``min_count`` times (most frequent first)."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [PAD, UNKNOWN, *words]
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], min_count: int = 2) -> Vocabulary:
        """The vocabulary of ``texts`` (token lists), keeping words seen ``min_count`` times."""
        min_count = check_positive_int("min_count", min_count)
        counts = Counter(word for text in texts for word in text)
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(kept)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def encode(
        self, texts: Sequence[Sequence[str]], max_length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids ``(n, L)`` and lengths ``(n,)`` of token lists (cut at ``max_length``).

        An empty text becomes one unknown token (a recurrent model needs one step).
        """
        ids = [[self.index.get(word, 1) for word in text[:max_length]] or [1] for text in texts]
        lengths = torch.tensor([len(row) for row in ids], dtype=torch.int64)
        padded = torch.zeros(len(ids), int(lengths.max()) if ids else 0, dtype=torch.int64)
        for row, values in enumerate(ids):
            padded[row, : len(values)] = torch.tensor(values, dtype=torch.int64)
        return padded, lengths
