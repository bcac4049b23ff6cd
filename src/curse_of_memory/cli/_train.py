"""``curse-of-memory train``: fit a ContinuousRNN to a named linear functional target.

Builds the target ``LinearFunctional.named(--target, **--target-param)``, samples a
dataset (SPEC 7.3: inputs dt * N(0, 1), split 80/10/10), trains with
:func:`curse_of_memory.training.train` and saves the model with ``save_model``
(format ``curse-of-memory/model-v1``, readable with ``torch.load(weights_only=True)``).

Exit status: 0 on success; 1 if training diverged (the weights of the last finite
epoch are still saved); 2 for bad arguments; 130 on Ctrl-C (after writing the
checkpoint when ``--checkpoint`` is given).
"""

from __future__ import annotations

import argparse
import sys

from curse_of_memory.cli._common import add_target_arguments, build_target

DTYPES = ("float64", "float32")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a continuous-time RNN on a named linear functional target and save it",
        description=(
            "Train a ContinuousRNN (SPEC eq 3, reparameterised recurrent weights, SPEC eq 18) "
            "on a linear functional target with a named memory, print the losses and save "
            "the model (curse-of-memory/model-v1 format, safe to load)."
        ),
    )
    add_target_arguments(parser, default="pol")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden", type=int, default=16, help="hidden size m (16)")
    model.add_argument("--activation", default="tanh", help="activation sigma (tanh)")
    model.add_argument(
        "--parametrization", default="softplus", help="eigenvalue map of W (softplus)"
    )
    model.add_argument("--structure", default="diagonal", help="structure of W (diagonal)")
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
    files = parser.add_argument_group("files")
    files.add_argument("--out", default="model.pt", help="where to save the model (model.pt)")
    files.add_argument("--checkpoint", metavar="PATH", help="write training checkpoints here")
    files.add_argument(
        "--checkpoint-every", type=int, default=10, help="epochs between checkpoints (10)"
    )
    files.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from curse_of_memory.models import ContinuousRNN
    from curse_of_memory.targets import make_dataset
    from curse_of_memory.training import LOSSES, evaluate_loss, resolve_config, save_model, train

    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint PATH")
    settings = dict(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        loss=args.loss,
    )
    config = resolve_config(args.preset, **settings)  # validates before any work
    target = build_target(args)
    torch.manual_seed(args.seed)
    model = ContinuousRNN(
        args.hidden,
        activation=args.activation,
        parametrization=args.parametrization,
        structure=args.structure,
        dt=args.dt,
    ).to(getattr(torch, args.dtype))
    dataset = make_dataset(
        target, args.samples, args.length, args.dt, seed=args.seed, dtype=getattr(torch, args.dtype)
    )
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
            print(
                f"interrupted: checkpoint of the last completed epoch in {args.checkpoint}; "
                "rerun with --resume to continue",
                file=sys.stderr,
            )
        raise
    losses = list(zip(result.train_losses, result.val_losses, strict=True))
    stride = max(1, len(losses) // 20)  # at most ~20 lines, always the last epoch
    for epoch, (tr, va) in enumerate(losses, start=1):
        if epoch % stride == 0 or epoch == len(losses):
            print(f"epoch {epoch:4d}  train loss {tr:.6e}  val loss {va:.6e}")
    test_loss = evaluate_loss(model, _as(dataset.test, model), LOSSES[config.loss])
    print(f"test loss {test_loss:.6e}  ({config.loss}, {result.seconds:.1f} s)")
    print(result.message, file=sys.stderr if result.diverged else sys.stdout)
    print(f"model: {save_model(model, args.out)}")
    return 1 if result.diverged else 0


def _as(pair, model):
    """``pair`` cast to the model's dtype."""
    dtype = next(model.parameters()).dtype
    return pair[0].to(dtype), pair[1].to(dtype)
