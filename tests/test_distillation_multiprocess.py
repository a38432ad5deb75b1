"""A real 2-process (gloo, CPU) run of recipes/distill.py under `accelerate launch`."""

from __future__ import annotations

import json

import pytest
from launch import has_accelerate, run_recipe

from hfnet.classifier import load_classifier


@pytest.mark.skipif(not has_accelerate(), reason="accelerate CLI missing")
def test_two_process_cpu_distillation(tiny_resnet_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--teacher", str(tiny_resnet_dir), "--student", "zoo:tiny_vit:hidden_size=32,num_layers=2,num_heads=2,"
            "patch_size=4", "--image_size", "16", "--dataset", "digits", "--samples_per_class", "8",
            "--test_samples_per_class", "2", "--output_dir", str(out), "--max_steps", "3", "--batch_size", "8",
            "--report_to", "none", "--hint", "vit.layers.0:resnet.encoder.stages.0", "--hint_max_steps", "2",
            "--unlabeled_dataset", "digits", "--unlabeled_samples", "16", "--cache_teacher_logits"]  # fmt: skip
    run_recipe("distill.py", args, processes=2)
    summary = json.loads((out / "results.json").read_text())
    assert summary["world_size"] == 2
    assert summary["stages"] == ["student"]
    student = load_classifier(out / "student")
    assert student.num_classes == 10
    card = (out / "student" / "README.md").read_text()
    assert "distilled from teacher" in card
    assert "16 unlabelled images of digits (train split" in card  # every process drew the same transfer set
