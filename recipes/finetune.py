r"""Fine-tune a pretrained classifier for a dataset: a new head for its classes, all weights trained.

The same job as `hfnet finetune`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.finetune` (`python recipes/finetune.py --help`) and its steps are the `run` function there. It runs alone or
under `accelerate launch`:

    python recipes/finetune.py --help
    accelerate launch --multi_gpu --num_processes 2 recipes/finetune.py ... --use_cpu   # 2 CPU processes (gloo)
"""

from __future__ import annotations

import sys

from hfnet.jobs import finetune, run_job


def main() -> int:
    return run_job(finetune, prog="recipes/finetune.py")


if __name__ == "__main__":
    sys.exit(main())
