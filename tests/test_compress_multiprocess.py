"""A real 2-process (gloo, CPU) run of recipes/compress.py removes the units of 1 process and ends with its weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from launch import has_accelerate, run_recipe

pytestmark = pytest.mark.skipif(not has_accelerate(), reason="accelerate CLI missing")


@pytest.fixture(scope="module")
def digit_vit_dir(tmp_path_factory):
    from hfnet.zoo import tiny_vit

    clf = tiny_vit([str(i) for i in range(10)], image_size=32, patch_size=8, hidden_size=32, num_layers=2,
                   num_heads=4, seed=0)  # fmt: skip
    return clf.save_pretrained(tmp_path_factory.mktemp("digit_vit") / "model")


def _args(model_dir, out: Path, batch: int) -> list[str]:
    return [str(model_dir), "--dataset", "digits", "--samples_per_class", "8", "--test_samples_per_class", "2",
            "--sparsity", "0.5", "--stages", "2", "--hint_weight", "1", "--calibration_samples", "32",
            "--calibration_batch_size", "8", "--max_steps", "6", "--batch_size", str(batch),
            "--output_dir", str(out / "model"), "--json", str(out / "summary.json")]  # fmt: skip


@pytest.mark.slow
def test_two_processes_compress_like_one(digit_vit_dir, tmp_path):
    from transformers import AutoModelForImageClassification

    one, two = tmp_path / "one", tmp_path / "two"
    run_recipe("compress.py", _args(digit_vit_dir, one, 16))
    run_recipe("compress.py", _args(digit_vit_dir, two, 8), processes=2)  # 2 x 8 = the same global batch of 16
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert s1["world_size"] == 1 and s2["world_size"] == 2
    assert [s["mask_sha256"] for s in s1["stages"]] == [s["mask_sha256"] for s in s2["stages"]]
    assert s1["params_compressed"] == s2["params_compressed"] < s1["params_teacher"]
    a, b = (AutoModelForImageClassification.from_pretrained(d / "model") for d in (one, two))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=1e-4, rtol=1e-3, msg=k)
