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
    assert [r["model"].split(" ")[0] for r in rows] == ["digits_resnet", "student", "student", "student"]
    assert rows[3]["parameters"] == rows[2]["parameters"] == rows[1]["parameters"]  # same student architecture
    assert "on the same" in rows[2]["model"] and "unlabelled" in rows[3]["model"] and "saved" not in rows[2]
    saved = load_classifier(rows[3]["saved"])  # the transfer-set student is the one saved
    # the reported accuracies are those of the models on the test split (teacher as given, student as saved)
    teacher_acc = evaluate_classifier(load_classifier(tiny_resnet_dir), digits_small["test"], progress=False)
    assert rows[0]["accuracy"] == pytest.approx(teacher_acc["accuracy"])
    assert rows[3]["accuracy"] == pytest.approx(evaluate_classifier(saved, digits_small["test"])["accuracy"])
    assert saved.num_classes == 10
    card = (tmp_path / "distillation" / "student" / "README.md").read_text()
    assert "distilled from digits_resnet" in card and "unlabelled images of digits (train split" in card
