"""``hfnet merge``: merge same-architecture models into a Hub-format folder with a model card."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", help="two or more Hub-format folders or Hub ids of one architecture")
    parser.add_argument("--output", required=True, help="folder to write the merged model to")
    parser.add_argument(
        "--method", default="average", help="average | task_arithmetic | ties | slerp (default: %(default)s)"
    )
    parser.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per model")
    parser.add_argument(
        "--base", default=None, help="base model the others were fine-tuned from (task_arithmetic, ties)"
    )
    parser.add_argument(
        "--align", action="store_true", help="permute every model onto the first by weight matching (Git Re-Basin)"
    )
    head = parser.add_mutually_exclusive_group()
    head.add_argument("--head-from", default=None, help="take the classifier head, config and labels from this model")
    head.add_argument("--reinit-head", action="store_true", help="re-initialise the classifier head")
    parser.add_argument("--density", type=float, default=None, help="TIES: fraction of each task vector kept")
    parser.add_argument("--scale", type=float, default=None, help="task_arithmetic / ties: scale of the merged vector")
    parser.add_argument("--t", type=float, default=None, help="SLERP: interpolation fraction (0: first model)")
    parser.add_argument(
        "--bn-dataset", default=None, help="recompute BatchNorm statistics on this dataset's train split after merging"
    )
    parser.add_argument("--bn-samples", type=int, default=1024, help="images for --bn-dataset (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from hfnet._table import format_table
    from hfnet.merging.merge import merge_models

    options = {k: getattr(args, k) for k in ("density", "scale", "t") if getattr(args, k) is not None}
    bn_data = None
    if args.bn_dataset:
        from hfnet.data import load_image_dataset

        bn_data = load_image_dataset(args.bn_dataset, seed=args.seed)["train"].shuffle(seed=args.seed)
    report = merge_models(
        args.models,
        args.output,
        method=args.method,
        weights=args.weights,
        base=args.base,
        head_from=args.head_from,
        reinit_head=args.reinit_head,
        align=args.align,
        options=options,
        batchnorm_dataset=bn_data,
        batchnorm_samples=args.bn_samples,
        seed=args.seed,
    )
    weights = report.weights or [None] * len(report.models)
    print(format_table([{"parent": m, "weight": w} for m, w in zip(report.models, weights)]))
    for a in report.alignment:
        print(
            f"aligned {a['model']}: {a['iterations']} iterations, weight inner product "
            f"{a['similarity_before']:.4g} -> {a['similarity_after']:.4g}"
        )
    print(
        f"method {report.method}, head {report.head_policy}, {report.num_tensors} tensors "
        f"({len(report.copied_integer_tensors)} integer buffers copied), "
        f"BatchNorm layers recomputed: {report.batchnorm_layers_recomputed}"
    )
    print(f"wrote {report.output}")
    return 0
