"""``hfnet prune MODEL --dataset D --method afr --sparsity 0.9 --output DIR``: score, mask, fine-tune, save."""

from __future__ import annotations

import argparse

METHODS = ("afr", "refer", "snip", "magnitude", "random")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hfnet.cli import add_dataset_arguments, add_training_arguments

    parser.add_argument("model", help="pretrained classifier: Hub id or local Hub-format folder")
    add_dataset_arguments(parser)
    parser.add_argument("--output", required=True, help="folder for the pruned Hub-format checkpoint")
    group = parser.add_argument_group("pruning")
    group.add_argument("--method", default="afr", choices=METHODS, help="score (default: %(default)s)")
    group.add_argument(
        "--sparsity", type=float, default=0.9, help="fraction of prunable weights set to zero (default: %(default)s)"
    )
    group.add_argument(
        "--scope", default="global", choices=("global", "layer"), help="one global threshold or per layer"
    )
    group.add_argument("--calibration-samples", type=int, default=256, help="images used for the scores")
    group.add_argument("--calibration-batch-size", type=int, default=32, help="batch size of the scoring passes")
    group.add_argument("--token-pooling", default="cls", choices=("cls", "mean", "tokens"), help="ReFer features")
    group.add_argument(
        "--refer-statistics", default="union", choices=("union", "batch"), help="singular values over all samples"
    )
    add_training_arguments(parser, epochs=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="fine-tuning learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay while fine-tuning")
    parser.add_argument("--repo-id", default=None, help="push the result to this Hub repository when given")


def run(args: argparse.Namespace) -> int:
    import tempfile

    from hfnet.cli import format_table, load_dataset_from_args
    from hfnet.hub import load_classifier, push_to_hub
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning
    from hfnet.training import default_training_arguments

    # validate everything before loading anything, so a bad option writes nothing
    config = PruningConfig(
        method=args.method,
        sparsity=args.sparsity,
        scope=args.scope,
        calibration_samples=args.calibration_samples,
        calibration_batch_size=args.calibration_batch_size,
        token_pooling=args.token_pooling,
        refer_statistics=args.refer_statistics,
        pruning_seed=args.seed,
    )
    train = args.epochs > 0 or args.max_steps > 0
    classifier = load_classifier(args.model)
    data = load_dataset_from_args(args)
    with tempfile.TemporaryDirectory(prefix="hfnet-prune-") as work:
        training_args = None
        if train:
            training_args = default_training_arguments(
                work,
                epochs=args.epochs,
                max_steps=args.max_steps,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                seed=args.seed,
                weight_decay=args.weight_decay,
            )
        summary = run_pruning(classifier, data, config, training_args, save_dir=args.output, dataset_name=args.dataset)
    keys = (
        "method",
        "sparsity_prunable",
        "sparsity_all_weights",
        "accuracy",
        "loss",
        "train_steps",
        "scoring_seconds",
    )
    print(format_table([{k: summary[k] for k in keys if k in summary}]))
    print(f"saved {summary.get('output_dir', args.output)}")
    if args.repo_id:
        print(f"pushed to {push_to_hub(args.output, args.repo_id)}")
    return 0
