"""Run hfnet's rank job on 50 digit images: the helper that tests/test_ranking_job.py starts with one process and
with ``accelerate launch --multi_gpu --num_processes 2 ... --use_cpu``; it asserts the world size it was started with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from hfnet.data import load_image_dataset
from hfnet.ranking.config import RankingConfig
from hfnet.ranking.job import rank_job


@dataclass
class ScriptArguments:
    expect_world_size: int = field(default=1, metadata={"help": "fail unless started with this many processes"})
    use_cpu: bool = field(default=False, metadata={"help": "run on CPU (the test machine has no GPU)"})


def main() -> None:
    script, config = HfArgumentParser((ScriptArguments, RankingConfig)).parse_args_into_dataclasses()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    assert world == script.expect_world_size, f"started with {world} processes, expected {script.expect_world_size}"
    data = load_image_dataset("digits", samples_per_class=20, test_samples_per_class=5, seed=0)["test"]
    result = rank_job(config, data, dataset_name="digits:test")
    assert result.num_processes == script.expect_world_size
    if result.is_main_process:
        print(result.table())


if __name__ == "__main__":
    main()
