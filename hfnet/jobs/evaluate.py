r"""Evaluate a classifier on a dataset split: accuracy, top-5 accuracy and loss, offline.

hfnet evaluate hfnet-demo/zoo/fashion_vit --dataset fashion_mnist --test-samples-per-class 100
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments

HELP = "evaluate a classifier on a dataset (accuracy, top-5, loss)"


@dataclass
class EvaluateArguments:
    """Model: what to evaluate, on which split."""

    model: str = field(metadata={"help": "Hub id or local Hub-format folder", "positional": True})
    split: str = field(default="test", metadata={"help": "Dataset split.", "choices": ("train", "test")})
    batch_size: int = field(default=64, metadata={"help": "Evaluation batch size (>= 1).", "min": 1})
    seed: int = field(default=0, metadata={"help": "Seed of the per-class subsampling (>= 0)."})
    json: str | None = field(default=None, metadata={"help": "Also write the result as JSON here."})

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise HfnetError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.seed < 0:
            raise HfnetError(f"--seed must be >= 0, got {self.seed}")


ARGUMENTS = (EvaluateArguments, DatasetArguments)


def run(script: EvaluateArguments, data_args: DatasetArguments) -> JobResult:
    from hfnet._table import format_table
    from hfnet.classifier import load_classifier
    from hfnet.evaluation import evaluate_classifier
    from hfnet.jobs._common import write_json

    model = load_classifier(script.model)
    dataset = data_args.load(seed=script.seed)[script.split]
    result = evaluate_classifier(model, dataset, batch_size=script.batch_size)
    row = {"model": script.model, "dataset": f"{data_args.dataset}:{script.split}", **result}
    lines = [format_table([row])]
    if script.json:
        lines.append(f"wrote {write_json(script.json, row)}")
    return JobResult("\n".join(lines), row)
