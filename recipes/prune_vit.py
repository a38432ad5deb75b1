r"""Prune a pretrained model (AFR, ReFer, SNIP, magnitude, random) and fine-tune.

The same job as `hfnet prune`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.prune` (`python recipes/prune_vit.py --help`) and its steps (# Model, # Dataset, ..., # Save / push) are the
`run` function there. It runs alone or under `accelerate launch`:

    python recipes/prune_vit.py --help
    accelerate launch --multi_gpu --num_processes 2 recipes/prune_vit.py ... --use_cpu   # 2 CPU processes (gloo)
"""

from __future__ import annotations

import sys

from hfnet.jobs import prune, run_job


def main() -> int:
    return run_job(prune, prog="recipes/prune_vit.py")


if __name__ == "__main__":
    sys.exit(main())
