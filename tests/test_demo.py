"""`hfnet demo` end to end (slow: trains the whole zoo and runs every capability's step)."""

from __future__ import annotations

import json

import pytest

from hfnet.demo import DEMO_STEPS, run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    import timm
    from transformers import AutoModelForImageClassification

    result = run_demo(tmp_path / "demo", seed=0)
    out = result["output_dir"]
    rows = json.loads((out / "results.json").read_text())["rows"]
    zoo = {r["model"]: r for r in rows if r["step"] == "zoo"}
    assert zoo["digits_resnet"]["accuracy"] > 0.9  # a real model trained on real digits
    assert (out / "accuracy.png").stat().st_size > 1000
    for name in ("digits_vit", "fashion_vit", "digits_resnet", "fashion_resnet"):
        model = AutoModelForImageClassification.from_pretrained(out / "zoo" / name)
        assert "(not available" not in str(model.config.id2label)
        assert "## Results" in (out / "zoo" / name / "README.md").read_text()
    timm.create_model(f"local-dir:{out / 'zoo' / 'efficientnet_lite0'}", pretrained=True)
    steps = {r["step"] for r in rows}
    assert (
        {m.rsplit(".", 1)[1] for m in DEMO_STEPS}
        == steps - {"zoo"}
        == {"ranking", "pruning", "merging", "distillation", "compression"}
    )


def test_compression_demo_step_is_one_line(tmp_path, digits_small):
    """The compress step alone, on a tiny digits ViT: one row, half the parameters, teacher accuracy beside it."""
    from hfnet.demo import DemoContext
    from hfnet.demo.compression import demo_step
    from hfnet.zoo import tiny_vit

    clf = tiny_vit([str(i) for i in range(10)], image_size=16, patch_size=4, hidden_size=32, num_layers=2, seed=0)
    ctx = DemoContext(output_dir=tmp_path, quick=True)
    ctx.zoo["digits_vit"] = clf.save_pretrained(tmp_path / "zoo" / "digits_vit")
    ctx.datasets["digits"] = digits_small
    (row,) = demo_step(ctx)
    assert row["params_ratio"] < 0.8 and row["size_ratio"] < 0.8
    assert 0 <= row["accuracy"] <= 1 and 0 <= row["teacher_accuracy"] <= 1
    assert (tmp_path / "compression" / "digits_vit-compressed-50" / "README.md").exists()
