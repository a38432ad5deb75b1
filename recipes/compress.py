r"""Compress a fine-tuned ViT: structured pruning in stages + KD recovery from the dense teacher.

The same job as `hfnet compress`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.compress` (`python recipes/compress.py --help`) and its steps are the `run` function there. It runs alone or
under `accelerate launch`:

    python recipes/compress.py --help
    accelerate launch --multi_gpu --num_processes 2 recipes/compress.py ... --use_cpu   # 2 CPU processes (gloo)
"""

from __future__ import annotations

import sys

from hfnet.jobs import compress, run_job


def main() -> int:
    return run_job(compress, prog="recipes/compress.py")


if __name__ == "__main__":
    sys.exit(main())
