r"""Rank candidate pretrained models for a labelled dataset before fine-tuning.

The same job as `hfnet rank`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.rank` (`python recipes/rank_models.py --help`) and its steps (# Model, # Dataset, ..., # Save / push) are the
`run` function there. It runs alone or under `accelerate launch`:

    python recipes/rank_models.py --help
    accelerate launch --multi_gpu --num_processes 2 recipes/rank_models.py ... --use_cpu   # 2 CPU processes (gloo)
"""

from __future__ import annotations

import sys

from hfnet.jobs import rank, run_job


def main() -> int:
    return run_job(rank, prog="recipes/rank_models.py")


if __name__ == "__main__":
    sys.exit(main())
