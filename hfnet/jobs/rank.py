r"""Rank candidate pretrained classifiers on a labelled dataset before fine-tuning any of them: one forward pass per
candidate, every score read from its logits and penultimate features.

    hfnet rank --dataset digits --candidates hfnet-demo/zoo/digits_vit hfnet-demo/zoo/fashion_resnet \
        --num-samples 500 --json ranking.json --plot ranking.png
    hfnet rank --dataset fashion_mnist --search vit --limit 5 --metrics logme leep emd   # Hub search (online)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments

HELP = "rank candidate pretrained models for a labelled dataset before fine-tuning"


@dataclass
class RankArguments:
    """Ranking: the candidates and the scores."""

    candidates: list[str] = field(
        default_factory=list, metadata={"help": "Hub ids (owner/name, hf-hub:timm/...) or local Hub-format folders."}
    )
    search: str | None = field(
        default=None, metadata={"help": "Also rank the Hub's most downloaded classifiers matching this."}
    )
    limit: int = field(default=5, metadata={"help": "How many --search results."})
    split: str = field(default="train", metadata={"help": "Dataset split to score on."})
    num_samples: int = field(default=500, metadata={"help": "Class-balanced target images to score."})
    metrics: list[str] = field(
        default_factory=list, metadata={"help": "Scores to compute (default: all).", "metavar": "METRIC"}
    )
    word_vectors: str | None = field(
        default=None, metadata={"help": "glove-6b-50d (default, offline), a gensim-data name or a local file."}
    )
    class_map: str | None = field(
        default=None, metadata={"help": 'JSON {"class name": "words"} or "name<TAB>words" lines for unknown names.'}
    )
    combine: str = field(default="sum", metadata={"help": "Multi-word class names.", "choices": ("sum", "mean")})
    sort_by: str | None = field(default=None, metadata={"help": "Order the table by this score."})
    batch_size: int = field(default=64, metadata={"help": "Forward-pass batch size."})
    seed: int = field(default=0, metadata={"help": "Picks the samples."})
    json: str | None = field(default=None, metadata={"help": "Write the ranking as JSON here."})
    plot: str | None = field(default=None, metadata={"help": "Write a PNG of the scores here."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        if self.num_samples < 2:
            raise HfnetError(f"--num-samples must be >= 2, got {self.num_samples}")
        if self.limit < 1:
            raise HfnetError(f"--limit must be >= 1, got {self.limit}")


ARGUMENTS = (RankArguments, DatasetArguments)


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


def run(script: RankArguments, data_args: DatasetArguments) -> JobResult:
    from hfnet.ranking.metrics import get_metrics
    from hfnet.ranking.ranker import rank_models
    from hfnet.ranking.word_vectors import load_class_map

    metrics = script.metrics or None
    chosen = [m.name for m in get_metrics(metrics)]  # fail on a typo before loading anything
    if script.sort_by is not None and script.sort_by not in chosen:
        raise HfnetError(f"--sort-by {script.sort_by} is not among the metrics computed ({', '.join(chosen)})")
    lines = []
    candidates = list(script.candidates)
    if script.search is not None:
        from hfnet.ranking.search import search_candidates

        found = search_candidates(script.search, script.limit)
        lines.append(f"Hub search {script.search!r}: {', '.join(found)}")
        candidates += [c for c in found if c not in candidates]
    if not candidates:
        raise HfnetError("no candidates: pass --candidates M1 M2 ... and/or --search QUERY")
    data = data_args.load(seed=script.seed)
    if script.split not in data:
        raise HfnetError(f"no split {script.split!r} in {data_args.dataset} (has {', '.join(data)})")
    class_map = load_class_map(script.class_map) if script.class_map else None
    ranking_logger = logging.getLogger("hfnet.ranking")
    level = ranking_logger.level
    ranking_logger.setLevel(logging.ERROR)  # the table lists warnings and skipped candidates itself
    try:
        ranking = rank_models(
            candidates,
            data[script.split],
            metrics=metrics,
            word_vectors=script.word_vectors,
            class_map=class_map,
            combine=script.combine,
            num_samples=script.num_samples,
            batch_size=script.batch_size,
            seed=script.seed,
            progress=script.progress,
        )
    finally:
        ranking_logger.setLevel(level)
    ranking.dataset = f"{data_args.dataset}:{script.split}"
    lines.append(f"{ranking.dataset}: {ranking.num_samples} images, {ranking.num_target_classes} classes")
    if ranking.target_oov:
        lines.append(f"target class words not in the vectors: {ranking.target_oov}")
    lines.append(format_ranking(ranking, script.sort_by))
    if script.json:
        lines.append(f"wrote {ranking.save_json(script.json)}")
    if script.plot:
        from hfnet.ranking.plot import plot_ranking

        lines.append(f"wrote {plot_ranking(ranking, script.plot)}")
    error = None if ranking.ranked else "every candidate failed to load or run; see the messages above"
    return JobResult("\n".join(lines), {"ranked": [c.name for c in ranking.ranked]}, error=error)
