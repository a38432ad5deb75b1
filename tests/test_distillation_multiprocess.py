"""A real 2-process (gloo, CPU) run of recipes/distill.py under `accelerate launch`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hfnet.hub import load_classifier

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists(),
    reason="accelerate CLI missing",
)
def test_two_process_cpu_distillation(tiny_resnet_dir, tmp_path):
    accelerate = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    out = tmp_path / "run"
    cmd = [
        accelerate,
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
        str(ROOT / "recipes" / "distill.py"),
        "--teacher",
        str(tiny_resnet_dir),
        "--student",
        "zoo:tiny_vit:hidden_size=32,num_layers=2,num_heads=2,patch_size=4",
        "--image_size",
        "16",
        "--dataset",
        "digits",
        "--samples_per_class",
        "8",
        "--test_samples_per_class",
        "2",
        "--output_dir",
        str(out),
        "--max_steps",
        "3",
        "--batch_size",
        "8",
        "--report_to",
        "none",
        "--hint",
        "vit.layers.0:resnet.encoder.stages.0",
        "--hint_max_steps",
        "2",
        "--use_cpu",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "results.json").read_text())
    assert summary["world_size"] == 2
    assert summary["stages"] == ["student"]
    student = load_classifier(out / "student")
    assert student.num_classes == 10
    assert "distilled from teacher" in (out / "student" / "README.md").read_text()
