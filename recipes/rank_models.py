"""Rank candidate pretrained classifiers for a labelled dataset before fine-tuning any of them (seed 003 + LogME,
LEEP, NCE, H-score): the same job as ``hfnet rank``, as a script.

    python recipes/rank_models.py --dataset digits --candidates path/to/model_a path/to/model_b \
        --num_samples 300 --output ranking.json --plot ranking.png
    python recipes/rank_models.py --dataset fashion_mnist --search vit --limit 5 --metrics logme leep emd

Candidates are Hub ids, local Hub-format folders, or the Hub's most downloaded image classifiers matching --search.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import HfArgumentParser

from hfnet._table import format_table
from hfnet.data import load_image_dataset
from hfnet.ranking import DEFAULT_METRICS, load_class_map, rank_models
from hfnet.ranking.plot import plot_ranking
from hfnet.ranking.search import search_candidates


@dataclass
class ScriptArguments:
    dataset: str = field(metadata={"help": "digits | fashion_mnist | mnist | Hub dataset id | imagefolder path"})
    candidates: list[str] = field(default_factory=list, metadata={"help": "Hub ids or local Hub-format folders"})
    search: str | None = field(default=None, metadata={"help": "also rank the Hub's top classifiers matching this"})
    limit: int = field(default=5, metadata={"help": "how many --search results"})
    split: str = field(default="train", metadata={"help": "the split to score on"})
    num_samples: int | None = field(default=500, metadata={"help": "class-balanced target images to score"})
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS), metadata={"help": "scores"})
    word_vectors: str | None = field(default=None, metadata={"help": "glove-6b-50d, gensim-data name or file"})
    class_map: str | None = field(default=None, metadata={"help": "JSON or TSV: class name -> words"})
    combine: str = field(default="sum", metadata={"help": "multi-word class names: sum (paper) or mean"})
    batch_size: int = field(default=64, metadata={"help": "forward-pass batch size"})
    seed: int = field(default=0, metadata={"help": "picks the samples"})
    output: str | None = field(default=None, metadata={"help": "write the ranking JSON here"})
    plot: str | None = field(default=None, metadata={"help": "write a PNG of the scores here"})


def main() -> None:
    (script,) = HfArgumentParser(ScriptArguments).parse_args_into_dataclasses()

    # Model
    candidates = list(script.candidates)
    if script.search:
        candidates += search_candidates(script.search, script.limit)

    # Dataset
    target = load_image_dataset(script.dataset, seed=script.seed)[script.split]

    # Rank
    ranking = rank_models(
        candidates,
        target,
        metrics=script.metrics,
        word_vectors=script.word_vectors,
        class_map=load_class_map(script.class_map) if script.class_map else None,
        combine=script.combine,
        num_samples=script.num_samples,
        batch_size=script.batch_size,
        seed=script.seed,
    )
    ranking.dataset = f"{script.dataset}:{script.split}"
    print(format_table(ranking.rows(), floatfmt="{:.4g}"))

    # Save
    if script.output:
        print(f"wrote {ranking.save_json(script.output)}")
    if script.plot:
        print(f"wrote {plot_ranking(ranking, script.plot)}")


if __name__ == "__main__":
    main()
