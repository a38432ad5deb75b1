import pytest

from hfnet.demo import DemoContext
from hfnet.demo.distillation import demo_step
from hfnet.hub import load_classifier


@pytest.mark.slow
def test_demo_step_scratch_vs_kd(tiny_resnet_dir, digits_small, tmp_path):
    ctx = DemoContext(
        output_dir=tmp_path,
        zoo={"digits_resnet": tiny_resnet_dir},
        datasets={"digits": digits_small},
        seed=0,
        quick=True,
    )
    rows = demo_step(ctx)
    assert [r["model"].split(" ")[0] for r in rows] == ["digits_resnet", "student", "student"]
    assert rows[2]["parameters"] == rows[1]["parameters"]  # same student architecture, scratch vs KD
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    saved = load_classifier(rows[2]["saved"])
    assert saved.num_classes == 10
    assert "distilled from digits_resnet" in (tmp_path / "distillation" / "student" / "README.md").read_text()
