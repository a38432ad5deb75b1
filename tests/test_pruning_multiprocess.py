"""A real 2-process (gloo, CPU) run of recipes/prune_vit.py gives the mask of a 1-process run on the same data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hfnet.hub import load_classifier
from hfnet.pruning import prunable_parameters

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")


def _recipe_args(model_dir, out: Path) -> list[str]:
    return [
        str(ROOT / "recipes" / "prune_vit.py"),
        str(model_dir),
        "--dataset",
        "digits",
        "--samples_per_class",
        "6",
        "--test_samples_per_class",
        "2",
        "--method",
        "afr",
        "--sparsity",
        "0.9",
        # 5 batches: unevenly shared by 2 processes (3 + 2), still the same sums
        "--calibration_samples",
        "40",
        "--calibration_batch_size",
        "8",
        "--output_dir",
        str(out / "model"),
        "--max_steps",
        "2",
        "--batch_size",
        "4",
        "--report_to",
        "none",
        "--use_cpu",
        "--json",
        str(out / "summary.json"),
    ]


@pytest.mark.skipif(not Path(ACCELERATE).exists(), reason="accelerate CLI missing")
def test_two_processes_give_the_mask_of_one(tiny_vit_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    one, two = tmp_path / "one", tmp_path / "two"
    single = [sys.executable, *_recipe_args(tiny_vit_dir, one)]
    launch = [
        ACCELERATE,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        *_recipe_args(tiny_vit_dir, two),
    ]
    for cmd in (single, launch):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
    s1 = json.loads((one / "summary.json").read_text())
    s2 = json.loads((two / "summary.json").read_text())
    assert s1["world_size"] == 1 and s2["world_size"] == 2
    assert s1["mask_sha256"] == s2["mask_sha256"]
    assert s2["pruned_weights"] == round(0.9 * s2["prunable_weights"])
    # the saved checkpoints carry exactly those zeros (training kept them)
    zeros = [{n: (p == 0) for n, p in prunable_parameters(load_classifier(d / "model")).items()} for d in (one, two)]
    assert all(bool((zeros[0][n] == zeros[1][n]).all()) for n in zeros[0])
    assert sum(int(z.sum()) for z in zeros[1].values()) == s2["pruned_weights"]
