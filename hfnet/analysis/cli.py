"""``hfnet filters``: compare two models' conv filters (cosine / Euclidean), with heatmaps and a JSON summary."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_a", help="Hub-format folder or Hub id")
    parser.add_argument("model_b", help="Hub-format folder or Hub id")
    parser.add_argument("--layer", default=None, help="conv layer (module or tensor name); default: the first conv")
    parser.add_argument("--layer-b", default=None, help="conv layer of model B when its name differs")
    parser.add_argument(
        "--metric",
        choices=["cosine", "euclidean"],
        default="cosine",
        help="cosine over single-channel filters (seed 000) or Euclidean E_ij / S_i over whole filters (seed 001)",
    )
    parser.add_argument("--threshold", type=float, default=0.5, help="cosine binarisation threshold")
    parser.add_argument("--plot", default=None, help="write the heatmap PNG here")
    parser.add_argument("--output", default=None, help="write the summary (and matrix) as JSON here")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random-weights reference")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hfnet._io import atomic_write_text
    from hfnet._table import format_table
    from hfnet.analysis.compare import compare_models
    from hfnet.analysis.plots import plot_comparison

    layer, cmp = compare_models(
        args.model_a,
        args.model_b,
        layer=args.layer,
        layer_b=args.layer_b,
        metric=args.metric,
        threshold=args.threshold,
        random_seed=args.seed,
    )
    rows = []
    for key, value in cmp.summary.items():
        if key.endswith("_random") or key.startswith("num_"):
            continue
        rows.append({"measure": key, "trained": value, "random weights": cmp.summary.get(f"{key}_random")})
    print(f"layer {layer}: {int(cmp.summary['num_filters_a'])} x {int(cmp.summary['num_filters_b'])} filters")
    print(format_table(rows))
    if args.plot:
        path = plot_comparison(cmp, args.plot, title=f"{layer} ({args.metric})", labels=("A", "B"))
        print(f"wrote {path}")
    if args.output:
        payload = {"model_a": args.model_a, "model_b": args.model_b, "layer": layer, **cmp.to_dict(with_matrix=True)}
        atomic_write_text(Path(args.output), json.dumps(payload, indent=1))
        print(f"wrote {args.output}")
    return 0
