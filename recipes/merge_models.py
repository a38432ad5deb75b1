r"""Merge same-architecture models (average, task arithmetic, TIES, SLERP).

The same job as `hfnet merge`, as a script to copy and adapt: its options are declared once in
`hfnet.jobs.merge` (`python recipes/merge_models.py --help`) and its steps (# Model, # Dataset, ..., # Save / push) are the
`run` function there. Run it as:

    python recipes/merge_models.py --help
"""

from __future__ import annotations

import sys

from hfnet.jobs import merge, run_job


def main() -> int:
    return run_job(merge, prog="recipes/merge_models.py")


if __name__ == "__main__":
    sys.exit(main())
