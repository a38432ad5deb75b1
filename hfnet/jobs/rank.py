r"""Rank candidate pretrained classifiers on a labelled dataset before fine-tuning any of them: one forward pass per
candidate, every score read from its logits and penultimate features, a recommended pick with its reason.

    hfnet rank --dataset digits --candidates hfnet-demo/zoo/digits_vit hfnet-demo/zoo/fashion_resnet \
        --num-samples 500 --json ranking.json --plot ranking.png
    hfnet rank --dataset fashion_mnist --search vit --limit 20 --max-params 100e6   # Hub search (online)
    accelerate launch --multi_gpu --num_processes 2 recipes/rank_models.py --dataset digits --candidates ... \
        --cache-dir ranking-cache --use_cpu   # candidates split across processes, one table

Sorted by the best-validated score (LogME) unless --sort-by; --cache-dir keeps every candidate's forward outputs, so
re-scoring with other scores or resuming an interrupted run costs no forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments
from hfnet.ranking.config import RankingConfig

HELP = "rank candidate pretrained models for a labelled dataset before fine-tuning"


@dataclass
class RankTarget:
    """Target: which split to score on, and where."""

    split: str = field(default="train", metadata={"help": "Dataset split to score on."})
    use_cpu: bool = field(
        default=False, metadata={"help": "Run on the CPU (with accelerate launch --multi_gpu: CPU processes)."}
    )


ARGUMENTS = (RankingConfig, DatasetArguments, RankTarget)


def run(config: RankingConfig, data_args: DatasetArguments, target: RankTarget) -> JobResult:
    from hfnet.errors import HfnetError
    from hfnet.ranking.job import rank_job
    from hfnet.ranking.metrics import get_metrics
    from hfnet.ranking.search import format_search

    if config.metrics:
        get_metrics(config.metrics)  # a typo fails before anything is loaded
    if not config.candidates and config.search is None:
        raise HfnetError("no candidates: pass --candidates M1 M2 ... and/or --search QUERY")
    data = data_args.load(seed=config.seed)
    if target.split not in data:
        raise HfnetError(f"no split {target.split!r} in {data_args.dataset} (has {', '.join(data)})")
    lines: list[str] = []
    name = f"{data_args.dataset}:{target.split}"
    try:
        result = rank_job(
            config, data[target.split], dataset_name=name, on_search=lambda r: lines.append(format_search(r))
        )
    except HfnetError as e:  # the search listing printed so far stays visible above the error
        return JobResult("\n".join(lines), error=str(e))
    if not result.is_main_process:
        return JobResult("", result.to_dict(), main_process=False)
    ranking = result.ranking
    lines.append(f"{name}: {ranking.num_samples} images, {ranking.num_target_classes} classes")
    if ranking.target_oov:
        lines.append(f"target class words not in the vectors: {ranking.target_oov}")
    lines.append(result.table())
    lines += [f"wrote {path}" for path in (config.json, config.plot) if path]
    return JobResult("\n".join(lines), result.to_dict())
