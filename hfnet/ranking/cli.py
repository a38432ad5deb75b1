"""``hfnet rank``: score candidate pretrained classifiers on a labelled dataset, print a table, write JSON / PNG."""

from __future__ import annotations

import argparse

from hfnet.errors import HfnetError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hfnet.cli import add_dataset_arguments
    from hfnet.ranking.metrics import METRICS

    add_dataset_arguments(parser)
    parser.add_argument(
        "--candidates", nargs="*", default=[], help="Hub ids (owner/name, hf-hub:timm/...) or local Hub-format folders"
    )
    parser.add_argument("--search", default=None, help="also rank the Hub's most downloaded classifiers matching this")
    parser.add_argument("--limit", type=int, default=5, help="how many --search results (default: %(default)s)")
    parser.add_argument("--split", default="train", help="dataset split to score on (default: %(default)s)")
    parser.add_argument(
        "--num-samples", type=int, default=500, help="class-balanced target images to score (default: %(default)s)"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="METRIC",
        help=f"scores to compute (default: all of {', '.join(METRICS)})",
    )
    parser.add_argument(
        "--word-vectors",
        default=None,
        help="glove-6b-50d (default, offline), a gensim-data name (online) or a local vectors file",
    )
    parser.add_argument(
        "--class-map", default=None, help='JSON {"class name": "words"} or "name<TAB>words" lines for unknown names'
    )
    parser.add_argument(
        "--combine", choices=["sum", "mean"], default="sum", help="multi-word class names (default: sum)"
    )
    parser.add_argument("--sort-by", default=None, help="order the table by this score (default: the first metric)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the ranking as JSON here")
    parser.add_argument("--plot", default=None, help="write a PNG of the scores here")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def format_ranking(ranking, sort_by: str | None = None) -> str:
    """A text table: a row per candidate, ``value (rank)`` per score, best first under ``sort_by``."""
    from hfnet._table import format_table

    sort_by = sort_by or ranking.metrics[0]
    if sort_by not in ranking.metrics:
        raise HfnetError(f"--sort-by {sort_by} is not among the computed metrics ({', '.join(ranking.metrics)})")
    ranks = {m: ranking.ranks(m) for m in ranking.metrics}
    rows = []
    for c in sorted(ranking.ranked, key=lambda c: ranks[sort_by].get(c.name) or 10**9):
        row = {"candidate": c.name}
        for m in ranking.metrics:
            v = c.scores.get(m)
            row[m] = "n/a" if v is None else f"{v:.4g} ({ranks[m][c.name]})"
        row["s"] = f"{c.seconds:.1f}"
        rows.append(row)
    lines = [format_table(rows)]
    lines += [f"note: {n}" for n in ranking.notes]
    for c in ranking.failed:
        lines.append(f"skipped {c.name}: {c.error}")
    for c in ranking.ranked:
        for w in c.warnings:
            lines.append(f"warning {c.name}: {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import logging

    from hfnet.cli import load_dataset_from_args
    from hfnet.ranking.metrics import get_metrics
    from hfnet.ranking.ranker import rank_models
    from hfnet.ranking.word_vectors import load_class_map

    chosen = [m.name for m in get_metrics(args.metrics)]  # fail on a typo before loading anything
    if args.sort_by is not None and args.sort_by not in chosen:
        raise HfnetError(f"--sort-by {args.sort_by} is not among the metrics computed ({', '.join(chosen)})")
    candidates = list(args.candidates)
    if args.search is not None:
        from hfnet.ranking.search import search_candidates

        found = search_candidates(args.search, args.limit)
        print(f"Hub search {args.search!r}: {', '.join(found)}")
        candidates += [c for c in found if c not in candidates]
    if not candidates:
        raise HfnetError("no candidates: pass --candidates M1 M2 ... and/or --search QUERY")
    data = load_dataset_from_args(args)
    if args.split not in data:
        raise HfnetError(f"no split {args.split!r} in {args.dataset} (has {', '.join(data)})")
    class_map = load_class_map(args.class_map) if args.class_map else None
    ranking_logger = logging.getLogger("hfnet.ranking")
    level = ranking_logger.level
    ranking_logger.setLevel(logging.ERROR)  # the table lists warnings and skipped candidates itself
    try:
        ranking = rank_models(
            candidates,
            data[args.split],
            metrics=args.metrics,
            word_vectors=args.word_vectors,
            class_map=class_map,
            combine=args.combine,
            num_samples=args.num_samples,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=not args.no_progress,
        )
    finally:
        ranking_logger.setLevel(level)
    ranking.dataset = f"{args.dataset}:{args.split}"
    print(f"{ranking.dataset}: {ranking.num_samples} images, {ranking.num_target_classes} classes")
    if ranking.target_oov:
        print(f"target class words not in the vectors: {ranking.target_oov}")
    print(format_ranking(ranking, args.sort_by))
    if args.output:
        print(f"wrote {ranking.save_json(args.output)}")
    if args.plot:
        from hfnet.ranking.plot import plot_ranking

        print(f"wrote {plot_ranking(ranking, args.plot)}")
    if not ranking.ranked:
        raise HfnetError("every candidate failed to load or run; see the messages above")
    return 0
