"""``curse-of-memory memory``: the memory of a target or of any model, its decay law, a verdict.

The subject is a named linear functional target (``--target``) or a model
(``--model``: a saved model file, or ``file.py:FUNCTION`` / ``module:FUNCTION``
building any torch module or callable). For every chosen test input (``--kind``)
the memory function is measured (Definition 3.1, paper eqs 7, 121, 128) and its
decay law fitted; the report prints the fits with their R^2, a verdict in words,
a figure overlaying the kinds on log-log and semilog axes and, with ``--json``,
the numbers.
"""

from __future__ import annotations

import argparse
import math

from curse_of_memory.cli._common import (
    add_target_arguments,
    build_target,
    choices_text,
    parse_key_values,
)

HELP = "memory function M(H)(t) of a named target or of any model, its decay law and a verdict"
TARGET_DT = 0.1  # default time step for named targets
MODEL_DT = 1.0  # default for models without a ``dt`` attribute: one step per time unit


def register(subparsers) -> None:
    from curse_of_memory.analysis.memory import KINDS, NORMALIZATIONS
    from curse_of_memory.cli._model_spec import ACCEPTED_FORMS

    parser = subparsers.add_parser(
        "memory",
        help=HELP,
        description=(
            "Measure the memory function (Definition 3.1, paper eq 7) of a named linear "
            "functional target or of a model, for one or more test inputs; fit an "
            "exponential and a polynomial decay law, print the fits and a verdict, and "
            "write a figure (log-log and semilog panels)."
        ),
    )
    add_target_arguments(parser, default=None)
    model = parser.add_argument_group("model (instead of --target)")
    model.add_argument(
        "--model",
        metavar="MODEL",
        help=f"the model: {ACCEPTED_FORMS}. The FUNCTION forms run that code and must "
        "return a torch.nn.Module or a callable (batch, T, d) -> (batch, T, d_out)",
    )
    model.add_argument(
        "--model-param",
        action="append",
        metavar="KEY=VALUE",
        help="keyword argument for FUNCTION, e.g. hidden=32 (repeatable)",
    )
    model.add_argument(
        "--input-dim",
        type=int,
        help="input channels d of the model (inferred from torch modules; needed for "
        "plain callables)",
    )
    model.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also accept a whole pickled nn.Module file (runs code from the file: trusted "
        "files only)",
    )
    probe = parser.add_argument_group("measurement")
    probe.add_argument("--length", type=int, default=300, help="number of time steps (300)")
    probe.add_argument(
        "--dt",
        type=float,
        default=None,
        help=f"time step (default: the model's own dt, else {MODEL_DT} for a model and "
        f"{TARGET_DT} for a target)",
    )
    probe.add_argument(
        "--kind",
        default="heaviside",
        metavar="KIND[,KIND...]",
        help=f"test inputs: {choices_text(KINDS)}, several separated by commas, or all (heaviside)",
    )
    probe.add_argument(
        "--normalization",
        default="x",
        help=f"divide by |x|_inf ('x') or by |x|_inf + 1 ('x+1'): {choices_text(NORMALIZATIONS)} "
        "(x)",
    )
    probe.add_argument(
        "--input-bound",
        type=float,
        default=1.0,
        metavar="X",
        help="sup over inputs 0 < |x|_inf <= X (1: the paper's bounded inputs; "
        "'inf' for unbounded inputs)",
    )
    files = parser.add_argument_group("files (checked before the measurement starts)")
    files.add_argument(
        "--figure", default="memory.png", help="figure path; its folder must exist (memory.png)"
    )
    files.add_argument("--json", metavar="PATH", help="also write the curves and fits as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def parse_kinds(text: str) -> list[str]:
    """``"heaviside,impulse"`` -> ``["heaviside", "impulse"]``; ``"all"`` -> every kind."""
    from curse_of_memory._validation import check_choice
    from curse_of_memory.analysis.memory import KINDS

    if text.strip() == "all":
        return list(KINDS)
    kinds = [part.strip() for part in text.split(",")]
    for kind in kinds:
        check_choice("--kind", kind, [*KINDS, "all"] if len(kinds) == 1 else KINDS)
    return list(dict.fromkeys(kinds))  # in the given order, without repeats


def run(args: argparse.Namespace) -> int:
    from curse_of_memory._outputs import check_output_file
    from curse_of_memory.analysis import fit_decay
    from curse_of_memory.cli._verdicts import overall_verdict
    from curse_of_memory.plotting import figure_suffixes, plot_memory_functions, save_figure

    kinds = parse_kinds(args.kind)
    check_output_file(args.figure, "--figure", suffixes=figure_suffixes())
    if args.json:
        check_output_file(args.json, "--json")
    subject, label = _load_subject(args)
    dt = _time_step(args, subject)
    memories, fits = {}, {}
    for kind in kinds:
        memories[kind] = _measure(subject, args, dt, kind)
        fits[kind] = fit_decay(memories[kind])
        print(f"{label} [{kind}]: {fits[kind].summary()}")
        print(f"  measured: {memories[kind].describe()}")
    verdict = overall_verdict(fits)
    print(f"verdict: {verdict}")
    if args.json:  # the numbers first: they matter most
        print(f"values: {_write_json(args, label, dt, memories, fits, verdict)}")
    figure = plot_memory_functions(memories, fits, axes=("loglog", "semilogy"), subject=label)
    print(f"figure: {save_figure(figure, args.figure)}")
    return 0


def _load_subject(args: argparse.Namespace):
    """The model or target named on the command line, and a label for it."""
    if args.model and args.target:
        raise ValueError("give either --model or --target, not both")
    if args.model:
        from curse_of_memory.cli._model_spec import load_model_spec

        params = parse_key_values(args.model_param, "--model-param")
        loaded = load_model_spec(args.model, args.allow_pickle, params)
        if loaded.source == "Python function":
            _check_input_dim_known(loaded.model, args)
            print(f"model: {loaded.label} (your code, called with {params or 'no arguments'})")
        return loaded.model, loaded.label
    if args.model_param or args.input_dim is not None:
        raise ValueError("--model-param and --input-dim apply to --model only")
    if args.target is None:
        args.target = "pol"
    target = build_target(args)
    return target, target.name


def _check_input_dim_known(model, args: argparse.Namespace) -> None:
    """A plain callable does not say how many input channels it takes: ask for them."""
    import torch

    if args.input_dim is None and not isinstance(model, torch.nn.Module):
        if getattr(model, "input_dim", None) is None:
            raise ValueError(
                f"--model {args.model!r} returned a plain callable: give --input-dim D "
                "(its number of input channels)"
            )


def _time_step(args: argparse.Namespace, subject) -> float:
    """``--dt``, else the model's own ``dt``, else the defaults; says when it matters."""
    if not args.model:
        return args.dt if args.dt is not None else TARGET_DT
    model_dt = getattr(subject, "dt", None)
    if isinstance(model_dt, bool) or not isinstance(model_dt, (int, float)):
        model_dt = None
    if args.dt is not None:
        if model_dt is not None and args.dt != model_dt:
            print(f"note: the model steps with dt = {model_dt}; measured with dt = {args.dt}")
        return args.dt
    if model_dt is None:
        print(f"note: the model has no dt attribute; dt = {MODEL_DT} (t counts steps)")
        return MODEL_DT
    return float(model_dt)


def _measure(subject, args: argparse.Namespace, dt: float, kind: str):
    """The memory function of ``subject`` for one kind of test input."""
    from curse_of_memory.analysis import memory_function

    return memory_function(
        subject,
        args.length,
        dt,
        kind=kind,
        input_dim=args.input_dim,
        normalization=args.normalization,
        input_bound=args.input_bound,
        progress=not args.quiet,
    )


def _write_json(args, label: str, dt: float, memories: dict, fits: dict, verdict: str):
    from curse_of_memory._atomic import atomic_write_json
    from curse_of_memory.cli._verdicts import verdict_words

    first = next(iter(memories.values()))
    payload = {
        "subject": label,
        "dt": dt,
        "length": args.length,
        "normalization": args.normalization,
        "input_bound": None if math.isinf(args.input_bound) else args.input_bound,
        "measured": {kind: memory.describe() for kind, memory in memories.items()},
        "input_dim": first.input_dim,
        "t": first.t.tolist(),
        "kinds": {
            kind: {
                "memory": memory.values.tolist(),
                "fit": fits[kind].to_dict(),
                "verdict": verdict_words(fits[kind]),
            }
            for kind, memory in memories.items()
        },
        "verdict": verdict,
    }
    return atomic_write_json(args.json, payload)
