import pytest

from hfnet.classifier import load_classifier
from hfnet.demo import DemoContext
from hfnet.demo.distillation import demo_step
from hfnet.evaluation import evaluate_classifier


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
    assert rows[2]["parameters"] == rows[1]["parameters"]  # the same student architecture
    assert "from scratch" in rows[1]["model"] and "unlabelled" in rows[2]["model"] and "saved" not in rows[1]
    # the same optimiser steps: the scratch student takes as many epochs more as the transfer set is larger
    steps = [int(r["model"].split(" steps)")[0].rsplit("= ", 1)[1]) for r in rows[1:]]
    assert abs(steps[0] - steps[1]) <= max(1, steps[1] // 10), rows  # whole epochs: within one scratch epoch
    saved = load_classifier(rows[2]["saved"])  # the transfer-set student is the one saved
    # the reported accuracies are those of the models on the test split (teacher as given, student as saved)
    teacher_acc = evaluate_classifier(load_classifier(tiny_resnet_dir), digits_small["test"], progress=False)
    assert rows[0]["accuracy"] == pytest.approx(teacher_acc["accuracy"])
    assert rows[2]["accuracy"] == pytest.approx(evaluate_classifier(saved, digits_small["test"])["accuracy"])
    assert saved.num_classes == 10
    card = (tmp_path / "distillation" / "student" / "README.md").read_text()
    assert "distilled from digits_resnet" in card and "unlabelled images of digits (train split" in card
