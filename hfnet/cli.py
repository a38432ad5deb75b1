"""The ``hfnet`` command: parses arguments, then calls library functions. Errors print one line, exit non-zero."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from hfnet import __version__
from hfnet._table import format_table  # noqa: F401 - re-exported for the subcommands
from hfnet.errors import HfnetError

# subcommand -> (module providing add_arguments(parser) and run(args) -> int, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "rank": ("hfnet.ranking.cli", "rank candidate pretrained models for a labelled dataset before fine-tuning"),
    "prune": ("hfnet.pruning.cli", "prune a pretrained model (AFR, ReFer, SNIP, magnitude, random) and fine-tune"),
    "merge": ("hfnet.merging.cli", "merge same-architecture models (average, task arithmetic, TIES, SLERP)"),
    "filters": ("hfnet.analysis.cli", "compare two models' convolution filters (cosine / Euclidean)"),
    "distill": ("hfnet.distillation.cli", "distill a teacher into a student (KD, assistants, hints, merit)"),
    "evaluate": ("hfnet.cli", "evaluate a classifier on a dataset (accuracy, top-5, loss)"),
    "push": ("hfnet.cli", "upload a saved model folder to the Hugging Face Hub with its model card"),
    "demo": ("hfnet.demo", "run every capability end to end on bundled real data, offline"),
}


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: float = 1.0) -> None:
    """The options every subcommand that trains takes."""
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=float, default=epochs, help="training epochs (default: %(default)s)")
    group.add_argument(
        "--max-steps", type=int, default=-1, help="stop after this many optimizer steps (overrides --epochs)"
    )
    group.add_argument("--batch-size", type=int, default=32, help="per-device batch size (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")


def add_dataset_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--dataset`` and the options that pick its columns and size."""
    parser.add_argument(
        "--dataset", required=required, help="digits | fashion_mnist | mnist | a Hub dataset id | an imagefolder path"
    )
    parser.add_argument("--image-column", default=None, help="image column (detected when omitted)")
    parser.add_argument("--label-column", default=None, help="label column (detected when omitted)")
    parser.add_argument("--samples-per-class", type=int, default=None, help="subsample the train split per class")
    parser.add_argument("--test-samples-per-class", type=int, default=None, help="subsample the test split per class")


def load_dataset_from_args(args: argparse.Namespace):
    from hfnet.data import load_image_dataset

    return load_image_dataset(
        args.dataset,
        image_column=args.image_column,
        label_column=args.label_column,
        samples_per_class=args.samples_per_class,
        test_samples_per_class=args.test_samples_per_class,
        seed=getattr(args, "seed", 0),
    )


# ---------------------------------------------------------------------- built-in subcommands
def _add_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="Hub id or local Hub-format folder")
    add_dataset_arguments(parser)
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--batch-size", type=int, default=64)


def _run_evaluate(args: argparse.Namespace) -> int:
    from hfnet.evaluation import evaluate_classifier
    from hfnet.hub import load_classifier

    model = load_classifier(args.model)
    dataset = load_dataset_from_args(args)[args.split]
    result = evaluate_classifier(model, dataset, batch_size=args.batch_size)
    print(format_table([{"model": args.model, **result}]))
    return 0


def _add_push(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a folder written by hfnet (config.json + model.safetensors + README.md)")
    parser.add_argument("--repo-id", required=True, help="the Hub repository, e.g. username/vit-pruned-afr-90")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--token", default=None, help="Hub token (default: the one saved by `hf auth login`)")


def _run_push(args: argparse.Namespace) -> int:
    from hfnet.hub import push_to_hub

    url = push_to_hub(args.folder, args.repo_id, private=args.private, token=args.token)
    print(f"pushed {args.folder} to {url}")
    return 0


_BUILTIN = {"evaluate": (_add_evaluate, _run_evaluate), "push": (_add_push, _run_push)}


def _not_available(name: str):
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER)

    def run(args: argparse.Namespace) -> int:
        raise HfnetError(f"`hfnet {name}` is not available in this version of hfnet yet")

    return add, run


def _subcommand(name: str):
    if name in _BUILTIN:
        return _BUILTIN[name]
    module_name = SUBCOMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return _not_available(name)
        raise
    if not (hasattr(module, "add_arguments") and hasattr(module, "run")):
        return _not_available(name)
    return module.add_arguments, module.run


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hfnet",
        description="Reuse and compress pretrained image classifiers: rank, prune, merge, distill, push.",
    )
    parser.add_argument("--version", action="version", version=f"hfnet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # only import the module of the subcommand being run (and all of them for --help)
    wanted = next((a for a in (argv or []) if a in SUBCOMMANDS), None)
    for name, (_, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if wanted is None or name == wanted:
            add, run = _subcommand(name)
            add(p)
            p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HfnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI never shows a traceback unless asked
        if os.environ.get("HFNET_DEBUG"):
            raise
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"error: {type(e).__name__}: {first} (set HFNET_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
