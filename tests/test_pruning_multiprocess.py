"""A real 2-process (gloo, CPU) run of recipes/prune_vit.py gives the mask (or the removed units) of 1 process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from launch import has_accelerate, run_recipe

from hfnet.classifier import load_classifier
from hfnet.pruning import prunable_parameters

pytestmark = pytest.mark.skipif(not has_accelerate(), reason="accelerate CLI missing")


def _args(model_dir, out: Path, *extra: str) -> list[str]:
    # 40 calibration images in batches of 8: 5 batches, unevenly shared by 2 processes (3 + 2), still the same sums
    return [str(model_dir), "--dataset", "digits", "--samples_per_class", "6", "--test_samples_per_class", "2",
            "--method", "afr", "--calibration_samples", "40", "--calibration_batch_size", "8",
            "--output_dir", str(out / "model"), "--report_to", "none", "--json", str(out / "summary.json"),
            *extra]  # fmt: skip


def _one_and_two(model_dir, tmp_path, *extra: str) -> tuple[dict, dict, Path, Path]:
    one, two = tmp_path / "one", tmp_path / "two"
    run_recipe("prune_vit.py", _args(model_dir, one, *extra))
    run_recipe("prune_vit.py", _args(model_dir, two, *extra), processes=2)
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert s1["world_size"] == 1 and s2["world_size"] == 2
    return s1, s2, one, two


def test_two_processes_give_the_mask_of_one(tiny_vit_dir, tmp_path):
    s1, s2, one, two = _one_and_two(tiny_vit_dir, tmp_path, "--sparsity", "0.9", "--max_steps", "2",
                                    "--batch_size", "4")  # fmt: skip
    assert s1["mask_sha256"] == s2["mask_sha256"]
    assert s2["pruned_weights"] == round(0.9 * s2["prunable_weights"])
    # the saved checkpoints carry exactly those zeros (training kept them)
    zeros = [{n: (p == 0) for n, p in prunable_parameters(load_classifier(d / "model")).items()} for d in (one, two)]
    assert all(bool((zeros[0][n] == zeros[1][n]).all()) for n in zeros[0])
    assert sum(int(z.sum()) for z in zeros[1].values()) == s2["pruned_weights"]


@pytest.mark.slow
def test_two_processes_remove_the_units_of_one(tiny_vit_dir, tmp_path):
    from transformers import AutoModelForImageClassification

    # no training: the new head stays untrained, which the recipe refuses unless told (only the masks are compared)
    s1, s2, one, two = _one_and_two(tiny_vit_dir, tmp_path, "--structured", "--sparsity", "0.4", "--epochs", "0",
                                    "--max_steps", "0", "--allow-untrained-head")  # fmt: skip
    assert s1["structured"] and s2["structured"]
    assert s1["mask_sha256"] == s2["mask_sha256"]  # the same heads and neurons in every block
    assert s1["params_after"] == s2["params_after"] < s1["params_before"]
    # without fine-tuning both saved checkpoints hold exactly the same kept weights
    a, b = (AutoModelForImageClassification.from_pretrained(d / "model") for d in (one, two))
    assert a.config.intermediate_size == b.config.intermediate_size == s1["neurons_per_block_after"] < 64
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
