"""``curse-of-memory memory``: the memory function of a target or a saved model, and its fit."""

from __future__ import annotations

import argparse

from curse_of_memory._atomic import atomic_write_json
from curse_of_memory.cli._common import add_target_arguments, build_target


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "memory",
        help="memory function M(H)(t) of a named target or a saved model, with its decay fit",
        description=(
            "Measure the memory function (Definition 3.1, paper eq 7; sup over inputs "
            "0 < |x|_inf <= --input-bound) of a named linear functional target or of a saved "
            "torch model, fit its decay law, print the verdict and write a log-log figure."
        ),
    )
    add_target_arguments(parser, default=None)
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="saved model (curse-of-memory format from `train`, loaded with weights_only=True)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also accept a whole pickled nn.Module (runs arbitrary code: trusted files only)",
    )
    parser.add_argument("--length", type=int, default=300, help="number of time steps (300)")
    parser.add_argument(
        "--dt",
        type=float,
        default=None,
        help="time step (default: the model's own dt with --model, else 0.1)",
    )
    parser.add_argument(
        "--kind", default="heaviside", help="test input: heaviside, impulse or reversed"
    )
    parser.add_argument(
        "--normalization", default="x", help="divide by |x|_inf ('x', default) or |x|_inf+1 ('x+1')"
    )
    parser.add_argument(
        "--input-bound",
        type=float,
        default=1.0,
        metavar="X",
        help="sup over inputs 0 < |x|_inf <= X (default 1, the paper's bounded inputs; "
        "'inf' for unbounded inputs)",
    )
    parser.add_argument("--figure", default="memory.png", help="log-log figure path (memory.png)")
    parser.add_argument("--json", metavar="PATH", help="also write t, M(t) and the fit as JSON")
    parser.set_defaults(func=run)


def _load_subject(args: argparse.Namespace):
    """The model or target named on the command line, and a label for it."""
    if args.model and args.target:
        raise ValueError("give either --model or --target, not both")
    if args.model:
        from curse_of_memory.training import load_model

        return load_model(args.model, allow_pickle=args.allow_pickle), args.model
    if args.target is None:
        args.target = "pol"
    target = build_target(args)
    return target, target.name


def run(args: argparse.Namespace) -> int:
    from curse_of_memory.analysis import fit_decay, memory_function
    from curse_of_memory.plotting import plot_memory_functions, save_figure

    subject, label = _load_subject(args)
    model_dt = getattr(subject, "dt", None) if args.model else None
    dt = args.dt if args.dt is not None else (model_dt or 0.1)
    if model_dt is not None and args.dt is not None and args.dt != model_dt:
        print(f"note: the model steps with dt = {model_dt}; memory is measured with dt = {dt}")
    memory = memory_function(
        subject,
        args.length,
        dt,
        kind=args.kind,
        normalization=args.normalization,
        input_bound=args.input_bound,
    )
    fit = fit_decay(memory)
    print(f"memory function: {memory.describe()}")
    print(f"{label}: {fit.summary()}")
    figure = save_figure(plot_memory_functions({label: memory}, {label: fit}), args.figure)
    print(f"figure: {figure}")
    if args.json:
        payload = {
            "subject": label,
            "kind": args.kind,
            "input_bound": memory.to_dict()["input_bound"],
            "measured": memory.describe(),
            "dt": dt,
            "t": memory.t.tolist(),
            "memory": memory.values.tolist(),
            "fit": fit.to_dict(),
        }
        print(f"values: {atomic_write_json(args.json, payload)}")
    return 0
