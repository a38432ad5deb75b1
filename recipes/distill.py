r"""Distill a teacher into a student (KD, assistants, hints, merit).

The same job as `hfnet distill`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.distill` (`python recipes/distill.py --help`) and its steps (# Model, # Dataset, ..., # Save / push) are the
`run` function there. It runs alone or under `accelerate launch`:

    python recipes/distill.py --help
    accelerate launch --multi_gpu --num_processes 2 recipes/distill.py ... --use_cpu   # 2 CPU processes (gloo)
"""

from __future__ import annotations

import sys

from hfnet.jobs import distill, run_job


def main() -> int:
    return run_job(distill, prog="recipes/distill.py")


if __name__ == "__main__":
    sys.exit(main())
