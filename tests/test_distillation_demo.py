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


def test_fashion_step_reruns_into_its_folder_and_keeps_the_users_files(tmp_path):
    """The Fashion-MNIST step writes two results (teacher, student) into one folder: both are recorded as hfnet's,
    so a rerun replaces them, and with overwrite a file of the user's there stays."""
    from hfnet.builtin_datasets import find_builtin_files
    from hfnet.data import load_image_dataset

    if find_builtin_files("fashion_mnist") is None:
        pytest.skip("Fashion-MNIST files not installed (.ci/run installs them)")
    fashion = load_image_dataset("fashion_mnist", samples_per_class=10, test_samples_per_class=5, seed=0)
    ctx = DemoContext(
        output_dir=tmp_path, zoo={"fashion_resnet": tmp_path}, datasets={"fashion_mnist": fashion}, quick=True
    )
    first = demo_step(ctx)
    assert first[0]["model"].startswith("fashion_resnet_300 (teacher")
    assert load_classifier(tmp_path / "distillation" / "teacher").num_classes == 10
    from hfnet._io import hfnet_written

    assert {"teacher", "student"} <= hfnet_written(tmp_path / "distillation")  # both recorded as hfnet's results
    (tmp_path / "distillation" / "mine.txt").write_text("mine")
    (tmp_path / "distillation" / "teacher" / "mine.txt").write_text("mine too")
    ctx.overwrite = True
    second = demo_step(ctx)
    assert (tmp_path / "distillation" / "mine.txt").read_text() == "mine"
    assert (tmp_path / "distillation" / "teacher" / "mine.txt").read_text() == "mine too"
    assert [r["accuracy"] for r in second] == [r["accuracy"] for r in first]  # the same seeded run again
