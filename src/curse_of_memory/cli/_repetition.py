"""``curse-of-memory repetition``: memory of a sentiment model queried with repeated words."""

from __future__ import annotations

import argparse

from curse_of_memory._atomic import atomic_write_json

HELP = "memory of a sentiment model for a word repeated k times, with its decay fit"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "repetition",
        help=HELP,
        description=(
            "Feed a word repeated k = 1..K times to a sentiment model and report the memory "
            "|s(k+1) - s(k)| (paper Appendix B, Figs 5 and 6) with its fitted decay law. "
            "Needs pip install 'curse-of-memory[text]'."
        ),
    )
    parser.add_argument(
        "--scorer",
        default="minilm",
        help="sentiment model: lstm, bilstm, stacked-bilstm (trained first on labelled tweets) "
        "or minilm (pretrained transformer; default)",
    )
    parser.add_argument(
        "--word", action="append", metavar="WORD", help="word to repeat (repeatable; default "
        "good, bad, ha)",
    )  # fmt: skip
    parser.add_argument("--max-repeats", type=int, default=200, help="largest k (200)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs of an LSTM (4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of an LSTM's training (0)")
    parser.add_argument("--figure", default="repetition.png", help="figure path (repetition.png)")
    parser.add_argument("--json", metavar="PATH", help="also write scores, memory and fits as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from curse_of_memory._validation import check_choice, check_positive_int
    from curse_of_memory.text.lstm import SentimentTraining
    from curse_of_memory.text.scorers import SCORERS, make_scorer

    check_choice("scorer", args.scorer, SCORERS)
    words = tuple(args.word or ("good", "bad", "ha"))
    if not 3 <= check_positive_int("--max-repeats", args.max_repeats) <= 250:
        raise ValueError(f"--max-repeats must be in [3, 250], got {args.max_repeats}")
    settings = SentimentTraining(epochs=args.epochs)
    from curse_of_memory.experiments.fig5 import plot_repetition_panel, query_words
    from curse_of_memory.plotting import save_figure

    score_fn, report = make_scorer(args.scorer, settings, seed=args.seed, progress=True)
    if "test" in report:
        print(f"{args.scorer}: test accuracy {100 * report['test']['accuracy']:.1f}%")
    curves = query_words(score_fn, words, args.max_repeats, progress=True)
    for word, curve in curves.items():
        if "skipped" in curve:
            print(f"{word}: skipped: {curve['skipped']}")
        else:
            print(
                f"{word}: {curve['fit']['law']} decay; tail fraction {curve['tail_fraction']:.2e}, "
                f"sign changes {curve['sign_change_fraction']:.2f}"
            )
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    plot_repetition_panel(ax, curves, f"{args.scorer}: memory of repeated words")
    fig.tight_layout()
    print(f"figure: {save_figure(fig, args.figure)}")
    if args.json:
        payload = {"scorer": args.scorer, "report": report, "curves": curves}
        print(f"values: {atomic_write_json(args.json, payload)}")
    return 0
