"""Run a recipe in one process and under a real 2-process ``accelerate launch`` (gloo on CPU)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
ACCELERATE_FLAGS = ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def run_recipe(recipe: str, args: list[str], *, processes: int = 1, timeout: int = 300) -> None:
    """``python recipes/RECIPE args`` (1 process) or ``accelerate launch --multi_gpu`` with ``processes``; asserts
    it exits 0 (offline, 1 thread per process, this checkout first on the path)."""
    script = [str(ROOT / "recipes" / recipe), *args, "--use_cpu"]
    if processes == 1:
        cmd = [sys.executable, *script]
    else:
        cmd = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", str(processes), *ACCELERATE_FLAGS, *script]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def has_accelerate() -> bool:
    return Path(ACCELERATE).exists()
