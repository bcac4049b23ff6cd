"""``curse-of-memory train``: fit a ContinuousRNN to a named linear functional target.

Builds the target ``LinearFunctional.named(--target, **--target-param)``, samples a
dataset (inputs dt * N(0, 1), split 80/10/10), trains with
:func:`curse_of_memory.training.train` and saves the model with ``save_model``
(format ``curse-of-memory/model-v1``, readable with ``torch.load(weights_only=True)``).

Nothing is lost: every output location is checked before the work starts (an
existing ``--out`` is kept unless ``--force``), and if the model file cannot be
written at the end the model is saved to a rescue file and the message says where.

Exit status: 0 on success; 1 if training diverged (the weights of the last finite
epoch are still saved) or the model had to be rescued; 2 for bad arguments; 130 on
Ctrl-C (after writing the checkpoint when ``--checkpoint`` is given).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from curse_of_memory.cli._common import add_target_arguments, build_target, choices_text

HELP = "train a continuous-time RNN on a named linear functional target and save it"
DTYPES = ("float64", "float32")
HISTORY_SUFFIXES = (".json", ".csv")
_FILE_OVERHEAD = 1 << 16  # bytes of a saved file beyond its tensors


def register(subparsers) -> None:
    from curse_of_memory.kernels.activations import ACTIVATIONS
    from curse_of_memory.models import PARAMETRIZATIONS, STRUCTURES

    parser = subparsers.add_parser(
        "train",
        help=HELP,
        description=(
            "Train a ContinuousRNN (paper eq 3, reparameterised recurrent weights, paper eq 18) "
            "on a linear functional target with a named memory, print the losses and save "
            "the model (curse-of-memory/model-v1 format, safe to load)."
        ),
    )
    add_target_arguments(parser, default="pol")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden", type=int, default=16, help="hidden size m (16)")
    model.add_argument(
        "--activation",
        default="tanh",
        help=f"activation sigma: {choices_text(ACTIVATIONS)} (tanh)",
    )
    model.add_argument(
        "--parametrization",
        default="softplus",
        help=f"eigenvalue map of W: {choices_text(PARAMETRIZATIONS)} (softplus)",
    )
    model.add_argument(
        "--structure",
        default="diagonal",
        help=f"structure of W: {choices_text(STRUCTURES)} (diagonal)",
    )
    model.add_argument("--dtype", default="float64", choices=DTYPES, help="precision (float64)")
    data = parser.add_argument_group("data")
    data.add_argument("--dt", type=float, default=1.0, help="time step of data and model (1.0)")
    data.add_argument("--length", type=int, default=100, help="sequence length T (100)")
    data.add_argument(
        "--samples", type=int, default=1280, help="sequences in all, split 80/10/10 (1280)"
    )
    fit = parser.add_argument_group("training (unset values come from --preset)")
    fit.add_argument("--preset", choices=("paper", "official"), help="training preset")
    fit.add_argument("--epochs", type=int, help="number of epochs (preset, else 100)")
    fit.add_argument("--lr", type=float, help="learning rate (preset, else 1e-3)")
    fit.add_argument("--batch-size", type=int, help="mini-batch size (preset, else 128)")
    fit.add_argument("--optimizer", help="adam or adamw (preset, else adam)")
    fit.add_argument("--loss", help="mse or time_weighted_mse (preset, else mse)")
    fit.add_argument("--seed", type=int, default=0, help="seed of data, init and shuffling (0)")
    files = parser.add_argument_group("files (all checked before training starts)")
    files.add_argument("--out", default="model.pt", help="where to save the model (model.pt)")
    files.add_argument(
        "--force", action="store_true", help="overwrite an existing --out, --history or checkpoint"
    )
    files.add_argument("--checkpoint", metavar="PATH", help="write training checkpoints here")
    files.add_argument(
        "--checkpoint-every", type=int, default=10, help="epochs between checkpoints (10)"
    )
    files.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    files.add_argument(
        "--history",
        metavar="PATH",
        help="also write the losses and learning rate of every epoch (.json or .csv)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from curse_of_memory._validation import check_memory_budget, check_positive_int
    from curse_of_memory.models import ContinuousRNN
    from curse_of_memory.targets import make_dataset
    from curse_of_memory.training import LOSSES, evaluate_loss, resolve_config, train

    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint PATH")
    for option in ("hidden", "samples", "length", "checkpoint_every"):
        check_positive_int(f"--{option.replace('_', '-')}", getattr(args, option))
    settings = dict(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        loss=args.loss,
    )
    config = resolve_config(args.preset, **settings)  # validates before any work
    target = build_target(args)
    dtype = getattr(torch, args.dtype)
    check_memory_budget(
        _estimated_bytes(args, config.batch_size, dtype.itemsize),
        f"train (--hidden {args.hidden}, --samples {args.samples}, --length {args.length}, "
        f"batch size {config.batch_size}, --structure {args.structure})",
    )
    torch.manual_seed(args.seed)
    model = ContinuousRNN(
        args.hidden,
        activation=args.activation,
        parametrization=args.parametrization,
        structure=args.structure,
        dt=args.dt,
    ).to(dtype)
    _check_output_files(args, model_bytes=_tensor_bytes(model.state_dict().values()))
    dataset = make_dataset(target, args.samples, args.length, args.dt, seed=args.seed, dtype=dtype)
    print(
        f"target {target.name}; model m={args.hidden} {args.activation} {args.parametrization} "
        f"{args.structure}; data {dataset.sizes()} x T={args.length}, dt={args.dt}"
    )
    try:
        result = train(
            model,
            dataset,
            preset=args.preset,
            seed=args.seed,
            checkpoint_path=args.checkpoint,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            progress=not args.quiet,
            **settings,
        )
    except KeyboardInterrupt:
        if args.checkpoint:
            print(_interrupted_message(Path(args.checkpoint)), file=sys.stderr)
        raise
    losses = list(zip(result.train_losses, result.val_losses, strict=True))
    stride = max(1, len(losses) // 20)  # at most ~20 lines, always the last epoch
    for epoch, (tr, va) in enumerate(losses, start=1):
        if epoch % stride == 0 or epoch == len(losses):
            print(f"epoch {epoch:4d}  train loss {tr:.6e}  val loss {va:.6e}")
    test_loss = evaluate_loss(model, _as(dataset.test, model), LOSSES[config.loss])
    print(f"test loss {test_loss:.6e}  ({config.loss}, {result.seconds:.1f} s)")
    print(result.message, file=sys.stderr if result.diverged else sys.stdout)
    saved = _save_or_rescue(model, Path(args.out))
    if args.history:
        print(f"history: {_write_history(Path(args.history), result, test_loss)}")
    return 1 if result.diverged or not saved else 0


def _estimated_bytes(args: argparse.Namespace, batch_size: int, itemsize: int) -> float:
    """Rough peak memory of a training run, to refuse absurd sizes before allocating.

    Data: inputs and outputs drawn in float64 with a few working copies (FFT, splits).
    Model: W and its parametrised form, gradient, two Adam moments, snapshots.
    Activations: the hidden states of a batch (and of an evaluation batch) kept for the
    backward pass, a few arrays of ``(rows, T, m)``.
    """
    m, length, samples = args.hidden, args.length, args.samples
    data = samples * length * 2 * 8 * 6
    weights = (m * m if args.structure != "diagonal" else m) + 4 * m
    model = weights * itemsize * 10
    rows = max(batch_size, min(1024, math.ceil(samples / 10)))
    activations = rows * length * m * itemsize * 6
    return float(data + model + activations)


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _check_output_files(args: argparse.Namespace, model_bytes: int) -> None:
    """Every file the run will write: checked (and clashes refused) before training."""
    from curse_of_memory._outputs import OutputLocationError, check_output_file

    named = {"--out": args.out, "--checkpoint": args.checkpoint, "--history": args.history}
    paths = {opt: Path(p).absolute() for opt, p in named.items() if p}
    if len(set(paths.values())) < len(paths):
        raise OutputLocationError(
            "--out, --checkpoint and --history must name different files, got "
            + ", ".join(f"{opt} {named[opt]!r}" for opt in paths)
        )
    check_output_file(
        args.out, "--out", needed_bytes=2 * model_bytes + _FILE_OVERHEAD, overwrite=args.force
    )
    if args.checkpoint:
        if Path(args.checkpoint).is_file() and not (args.resume or args.force):
            raise OutputLocationError(
                f"--checkpoint {args.checkpoint!r} already exists; pass --resume to continue "
                "from it, or --force to start afresh and overwrite it"
            )
        check_output_file(
            args.checkpoint, "--checkpoint", needed_bytes=8 * model_bytes + _FILE_OVERHEAD
        )
    if args.history:
        check_output_file(
            args.history, "--history", overwrite=args.force, suffixes=HISTORY_SUFFIXES
        )


def _save_or_rescue(model, out: Path) -> bool:
    """Save the model to ``out``; if that fails, to a rescue file, saying where.

    Returns True when ``out`` was written; False after a rescue. Raises ``OSError``
    only when no folder accepted the model.
    """
    from curse_of_memory.training import save_model

    try:
        print(f"model: {save_model(model, out)}")
        return True
    except OSError as err:
        failure = err
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    name = f"{out.stem}.rescued-{stamp}{out.suffix or '.pt'}"
    tried = []
    for folder in _rescue_folders(out):
        tried.append(str(folder))
        try:
            rescued = save_model(model, folder / name)
        except OSError:
            continue
        print(
            f"curse-of-memory train: error: {failure}; the trained model was saved to "
            f"{str(rescued)!r} instead",
            file=sys.stderr,
        )
        return False
    raise OSError(
        f"{failure}; the trained model could not be saved in any of {', '.join(tried)} either"
    )


def _rescue_folders(out: Path) -> list[Path]:
    """Where a model goes when ``out`` cannot be written: working, temporary, home folder."""
    candidates = [Path.cwd(), Path(tempfile.gettempdir()), Path.home()]
    seen = {out.absolute().parent}
    folders = []
    for folder in candidates:
        if folder.absolute() not in seen and folder.is_dir():
            seen.add(folder.absolute())
            folders.append(folder)
    return folders


def _write_history(path: Path, result, test_loss: float) -> Path:
    """Losses and learning rate per epoch, as JSON or CSV (by the file's suffix)."""
    from curse_of_memory._atomic import atomic_write_json, atomic_write_text

    epochs = list(range(1, len(result.train_losses) + 1))
    if path.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["epoch", "train_loss", "val_loss", "lr"])
        rows = zip(epochs, result.train_losses, result.val_losses, result.lrs, strict=True)
        writer.writerows([e, repr(tr), repr(va), repr(lr)] for e, tr, va, lr in rows)
        return atomic_write_text(path, buffer.getvalue())
    return atomic_write_json(
        path,
        {
            "epoch": epochs,
            "train_loss": result.train_losses,
            "val_loss": result.val_losses,
            "lr": result.lrs,
            "test_loss": test_loss,
            "diverged": result.diverged,
            "config": result.config,
        },
    )


def _interrupted_message(checkpoint: Path) -> str:
    """What an interrupted run left behind, read back from the checkpoint itself."""
    from curse_of_memory.training import load_checkpoint

    try:
        epoch = load_checkpoint(checkpoint)["epoch"]
    except (OSError, ValueError):
        return f"interrupted: no checkpoint could be written to {str(checkpoint)!r}"
    return (
        f"interrupted: checkpoint of epoch {epoch} in {str(checkpoint)!r}; rerun the same "
        "command with --resume to continue"
    )


def _as(pair, model):
    """``pair`` cast to the model's dtype."""
    dtype = next(model.parameters()).dtype
    return pair[0].to(dtype), pair[1].to(dtype)
