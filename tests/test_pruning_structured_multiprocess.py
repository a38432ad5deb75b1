"""A real 2-process (gloo, CPU) structured run of recipes/prune_vit.py removes the units a 1-process run removes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")


def _recipe_args(model_dir, out: Path) -> list[str]:
    return [
        str(ROOT / "recipes" / "prune_vit.py"),
        "--model_name_or_path",
        str(model_dir),
        "--dataset_name",
        "digits",
        "--samples_per_class",
        "6",
        "--test_samples_per_class",
        "2",
        "--method",
        "afr",
        "--structured",
        "--sparsity",
        "0.4",
        # 5 batches: unevenly shared by 2 processes (3 + 2), still the same sums
        "--calibration_samples",
        "40",
        "--calibration_batch_size",
        "8",
        "--output_dir",
        str(out / "model"),
        "--max_steps",
        "0",
        "--num_train_epochs",
        "0",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--use_cpu",
        "--summary_file",
        str(out / "summary.json"),
    ]


@pytest.mark.slow
@pytest.mark.skipif(not Path(ACCELERATE).exists(), reason="accelerate CLI missing")
def test_two_processes_remove_the_units_of_one(tiny_vit_dir, tmp_path):
    from transformers import AutoModelForImageClassification

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
    assert s1["world_size"] == 1 and s2["world_size"] == 2 and s1["structured"] and s2["structured"]
    assert s1["mask_sha256"] == s2["mask_sha256"]  # the same heads and neurons in every block
    assert s1["params_after"] == s2["params_after"] < s1["params_before"]
    # without fine-tuning both saved checkpoints hold exactly the same kept weights
    a, b = (AutoModelForImageClassification.from_pretrained(d / "model") for d in (one, two))
    assert a.config.intermediate_size == b.config.intermediate_size == s1["neurons_per_block_after"] < 64
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
