"""The parts of ``hfnet demo``'s distillation step (hfnet.demo.distillation), each checked alone and fast: the
training calls are replaced by recorders, so what is checked is what each part hands them and what it reports."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hfnet.classifier import load_classifier
from hfnet.demo import DemoContext
from hfnet.demo import distillation as demo
from hfnet.zoo import tiny_resnet

NAMES = [f"digit {i}" for i in range(10)]
SMALL = dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1])


def _same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _record(calls, result=None):
    def recorder(*args, **kwargs):
        calls.append((args, kwargs))
        return result

    return recorder


def test_the_two_students_take_the_same_optimiser_steps():
    assert demo._steps(1000, 16) == 16 * 16  # ceil(1000 / 64) batches per epoch
    assert demo._steps(3000, 16) == 47 * 16  # the distilled student's 752 steps
    assert demo._steps(100, 2.5) == 2 * 3  # whole epochs
    assert demo._steps(64, 1) == 1
    scratch = demo._scratch_epochs(1000, 2000, 16.0)
    assert scratch == 47.0 and type(scratch) is float  # 47 epochs over 1000 = 752 steps
    assert demo._scratch_epochs(200, 200, 1.0) == 2.0  # 7 steps over 400 images, 4 a scratch epoch: rounded
    assert demo._scratch_epochs(100, 60, 3.0) == 4.0  # 9 steps / 2 steps an epoch = 4.5: rounded to even


def test_kd_config_is_the_scratch_students_settings_with_kd_on_cached_logits(tmp_path):
    config = demo._kd_config(tmp_path / "kd", seed=3, epochs=2.0, max_steps=5)
    got = {k: getattr(config, k) for k in ("output_dir", "num_train_epochs", "max_steps", "seed", "data_seed")}
    assert got == {
        "output_dir": str(tmp_path / "kd"),
        "num_train_epochs": 2.0,
        "max_steps": 5,
        "seed": 3,
        "data_seed": 3,
    }
    assert (config.per_device_train_batch_size, config.learning_rate) == (64, 2e-3)
    assert (config.temperature, config.alpha, config.cache_teacher_logits) == (4.0, 0.3, True)
    assert config.save_strategy == "no" and config.report_to == [] and config.disable_tqdm is True
    assert config.dataloader_pin_memory is False and config.logging_steps == 50


def test_rows_report_size_accuracy_and_seconds(digits_small, monkeypatch, capfd):
    from hfnet.evaluation import evaluate_classifier

    model = tiny_resnet(NAMES, image_size=8, seed=0, **SMALL)
    test = digits_small["test"]
    accuracy = evaluate_classifier(model, test, progress=False)["accuracy"]
    capfd.readouterr()
    monkeypatch.setattr(demo, "time", SimpleNamespace(perf_counter=lambda: 105.36))  # the clock at the row
    row = demo._evaluated_row("a label", model, test, 100.0)
    assert row == {
        "model": "a label",
        "parameters": sum(p.numel() for p in model.parameters()),
        "accuracy": accuracy,
        "seconds": 5.4,  # to a tenth of a second
    }
    assert "evaluate" not in capfd.readouterr().err  # no progress bar among the demo's lines
    result = SimpleNamespace(metrics={"parameters": 1234.0, "accuracy": 0.75}, output_dir=Path("out/student"))
    row = demo._distilled_row("digits_resnet", result, 1000, 2000, 16.0, 102.0)
    assert row["model"] == (
        "student distilled from digits_resnet on 1000 labelled + 2000 unlabelled (T=4, alpha=0.3, cached logits; "
        "16 epochs = 752 steps)"
    )
    assert row["parameters"] == 1234 and type(row["parameters"]) is int and row["accuracy"] == 0.75
    assert row["seconds"] == 3.4 and row["saved"] == str(Path("out/student"))


def test_transfer_set_excludes_the_labelled_and_test_images(monkeypatch):
    calls = []
    monkeypatch.setattr("hfnet.distillation.data.load_transfer_set", _record(calls, "transfer"))
    assert demo._transfer_set("digits", "TRAIN", "TEST", quick=False, seed=4) == "transfer"
    demo._transfer_set("fashion_mnist", "TRAIN", "TEST", quick=True, seed=1)
    expected = dict(seed=4, samples=2000, exclude={"train": "TRAIN", "eval": "TEST"})
    assert calls[0] == (("digits", "train"), expected)
    assert calls[1] == (("fashion_mnist", "train"), dict(expected, seed=1, samples=200))  # a tenth when quick
    assert type(calls[1][1]["samples"]) is int


def test_step_data_on_digits_and_on_fashion_mnist(digits_small, tmp_path):
    from hfnet.builtin_datasets import find_builtin_files

    ctx = DemoContext(output_dir=tmp_path, zoo={"digits_resnet": tmp_path}, datasets={"digits": digits_small})
    key, names, train, test = demo._step_data(ctx)
    assert key == "digits" and names == [str(i) for i in range(10)]
    assert train is digits_small["train"] and test is digits_small["test"]
    if find_builtin_files("fashion_mnist") is None:
        pytest.skip("Fashion-MNIST files not installed (.ci/run installs them)")
    from hfnet.data import load_image_dataset

    fashion = load_image_dataset("fashion_mnist", samples_per_class=2, test_samples_per_class=1, seed=0)
    ctx = DemoContext(
        output_dir=tmp_path, zoo={"fashion_resnet": tmp_path}, datasets={"fashion_mnist": fashion}, seed=2
    )
    key, names, train, test = demo._step_data(ctx)
    assert key == "fashion_mnist" and names[:2] == ["T-shirt/top", "Trouser"] and train is fashion["train"]
    assert len(test) == 2000 and np.bincount(test["label"]).tolist() == [200] * 10  # its own 200 per class
    again = load_image_dataset("fashion_mnist", test_samples_per_class=200, seed=2)["test"]
    assert test["label"] == again["label"]  # drawn with the step's seed


def test_strong_teacher_data_is_its_own_labelled_draw():
    from hfnet.builtin_datasets import find_builtin_files
    from hfnet.data import load_image_dataset

    if find_builtin_files("fashion_mnist") is None:
        pytest.skip("Fashion-MNIST files not installed (.ci/run installs them)")
    data = demo.strong_teacher_data(3)
    assert len(data) == 30 and np.bincount(data["label"]).tolist() == [3] * 10
    assert data.features["label"].names[0] == "T-shirt/top"
    same = load_image_dataset("fashion_mnist", samples_per_class=3, seed=5)["train"]  # seed 5 by default
    assert [np.asarray(a).tobytes() for a in data["image"]] == [np.asarray(b).tobytes() for b in same["image"]]
    other = demo.strong_teacher_data(3, seed=6)
    assert [np.asarray(a).tobytes() for a in other["image"]] != [np.asarray(b).tobytes() for b in data["image"]]


def test_fashion_resnet_teacher_is_the_zoo_recipe(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("hfnet.demo.train_zoo_recipe", _record(calls))
    teacher = demo.fashion_resnet_teacher(NAMES, "LABELLED", tmp_path / "t", seed=2)
    (args, kwargs) = calls[0]
    assert args == (teacher, "LABELLED", tmp_path / "t") and kwargs == {"epochs": 4, "seed": 2}
    assert teacher.preprocessing.image_size == (28, 28) and teacher.class_names == NAMES
    assert _same_weights(teacher, tiny_resnet(NAMES, image_size=28, seed=3))  # init seed + 1, the zoo's size


def test_scratch_student_trains_the_student_architecture(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("hfnet.training.train_classifier", _record(calls))
    student = demo.scratch_student(NAMES, 12, "TRAIN", seed=1, epochs=3.0, out=tmp_path / "s")
    assert student.preprocessing.image_size == (12, 12) and student.class_names == NAMES
    assert _same_weights(student, tiny_resnet(NAMES, image_size=12, seed=8, **SMALL))  # seed + 7
    assert calls == [
        (
            (student, "TRAIN"),
            dict(
                output_dir=str(tmp_path / "s"),
                epochs=3.0,
                batch_size=64,
                learning_rate=2e-3,
                seed=1,
                disable_tqdm=True,
            ),
        )
    ]


def test_distill_student_distills_the_same_student_with_the_kd_config(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("hfnet.distillation.chain.distill_chain", _record(calls, ["RESULT"]))
    teacher = tiny_resnet(NAMES, image_size=12, seed=0)
    result = demo.distill_student(
        teacher, NAMES, 12, "TRAIN", "TEST", seed=1, epochs=2.0, out=tmp_path / "kd", max_steps=3,
        transfer="TRANSFER", save_dir=tmp_path / "save", overwrite=True, dataset_name="digits", teacher_name="big",
    )  # fmt: skip
    assert result == "RESULT"
    (models, train, config), kwargs = calls[0]
    assert models[0] is teacher and train == "TRAIN"
    assert _same_weights(models[1], tiny_resnet(NAMES, image_size=12, seed=8, **SMALL))  # the scratch student's
    assert models[1].preprocessing.image_size == (12, 12)
    want = demo._kd_config(tmp_path / "kd", seed=1, epochs=2.0, max_steps=3)
    assert config.to_dict() == want.to_dict()
    assert kwargs == dict(
        names=["big", "student"],
        eval_dataset="TEST",
        output_dir=tmp_path / "save",
        dataset_name="digits",
        overwrite=True,
        transfer_set="TRANSFER",
    )
    demo.distill_student(teacher, NAMES, 12, "TRAIN", "TEST", seed=1, epochs=2.0, out=tmp_path / "kd")
    assert calls[1][0][2].max_steps == -1  # by default the epochs decide
    assert calls[1][1] == dict(
        names=["teacher", "student"], eval_dataset="TEST", output_dir=None, dataset_name=None, overwrite=False,
        transfer_set=None,
    )  # fmt: skip


def test_the_digits_teacher_is_the_zoos_named_for_the_dataset(tmp_path):
    unnamed = tiny_resnet([f"LABEL_{i}" for i in range(10)], image_size=8, seed=0, **SMALL)
    ctx = DemoContext(output_dir=tmp_path, zoo={"digits_resnet": unnamed.save_pretrained(tmp_path / "zoo")})
    key, teacher, text = demo._teacher(ctx, "digits", NAMES, tmp_path / "out", False)
    assert (key, text) == ("digits_resnet", "the zoo's, trained on the same labelled images")
    assert teacher.class_names == NAMES and _same_weights(teacher, unnamed)
    named = tiny_resnet(list("abcdefghij"), image_size=8, seed=0, **SMALL)
    ctx.zoo["digits_resnet"] = named.save_pretrained(tmp_path / "named")
    assert demo._teacher(ctx, "digits", NAMES, tmp_path / "out", False)[1].class_names == list("abcdefghij")
    assert not (tmp_path / "out").exists()  # nothing written for the zoo's teacher


@pytest.mark.parametrize(("quick", "per_class"), [(True, 30), (False, 600)])
def test_the_fashion_teacher_is_trained_and_saved_with_its_card(monkeypatch, tmp_path, quick, per_class):
    from hfnet._io import hfnet_written

    asked = []
    labelled = list(range(per_class * 10))
    teacher = tiny_resnet(NAMES, image_size=8, seed=0, **SMALL)
    monkeypatch.setattr(demo, "strong_teacher_data", lambda n: asked.append(n) or labelled)
    monkeypatch.setattr(demo, "fashion_resnet_teacher", _record(asked, teacher))
    out = tmp_path / "distillation"
    ctx = DemoContext(output_dir=tmp_path, seed=4)
    key, got, text = demo._teacher(ctx, "fashion_mnist", NAMES, out, quick)
    n = per_class * 10
    assert asked == [per_class, ((NAMES, labelled, out / "runs" / "teacher"), {"seed": 4})]
    assert (key, got) == (f"fashion_resnet_{n}", teacher)
    assert text == f"the zoo's recipe on {n} labelled images, more than the student's"
    assert _same_weights(load_classifier(out / "teacher"), teacher) and "teacher" in hfnet_written(out)
    card = (out / "teacher" / "README.md").read_text()
    assert f"hfnet demo: fashion_resnet_{n}" in card and "hfnet demo --seed 4 --steps distill" in card
    assert f"recipe (4 epochs) on {n} labelled Fashion-MNIST training images, more labels than the student" in card
    assert f'"labelled_images": {n}' in card and '"learning_rate": 0.002' in card and '"batch_size": 64' in card
    assert '"epochs": 4' in card and "\n- zalando-datasets/fashion_mnist\n" in card and "\n- hfnet-demo\n" in card
    (out / "mine.txt").write_text("mine")  # a rerun next to the user's files needs overwrite, which keeps them
    (out / "teacher" / "mine.txt").write_text("mine")
    with pytest.raises(Exception, match="overwrite"):
        demo._teacher(ctx, "fashion_mnist", NAMES, out, quick)
    ctx.overwrite = True
    demo._teacher(ctx, "fashion_mnist", NAMES, out, quick)
    assert (out / "teacher" / "mine.txt").read_text() == "mine" and (out / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("quick", [True, False])
def test_demo_step_rows_in_order_with_the_same_steps(monkeypatch, digits_small, tmp_path, quick):
    calls = {}
    teacher = tiny_resnet(NAMES, image_size=8, seed=0, **SMALL)
    student = tiny_resnet(NAMES, image_size=8, seed=1)
    train, test = digits_small["train"], digits_small["test"]  # 200 / 50 images
    transfer = SimpleNamespace(images=[None] * 300)
    result = SimpleNamespace(metrics={"parameters": 99, "accuracy": 0.5}, output_dir=tmp_path / "d" / "student")

    def record(name, value):
        return lambda *a, **k: calls.setdefault(name, (a, k)) and value

    monkeypatch.setattr(demo, "_teacher", record("teacher", ("big", teacher, "trained on more")))
    monkeypatch.setattr(demo, "_transfer_set", record("transfer", transfer))
    monkeypatch.setattr(demo, "scratch_student", record("scratch", student))
    monkeypatch.setattr(demo, "distill_student", record("distill", result))
    ctx = SimpleNamespace(  # any object with the context's fields; without ``quick``: the full step
        output_dir=tmp_path, zoo={"digits_resnet": tmp_path}, datasets={"digits": digits_small}, seed=3,
        overwrite="OVERWRITE",
    )  # fmt: skip
    if quick:
        ctx.quick = True
    rows = demo.demo_step(ctx)
    out = tmp_path / "distillation"
    epochs = 1.0 if quick else 16.0
    scratch_epochs = demo._scratch_epochs(200, 300, epochs)  # 8 or 128 steps over 500: 2 or 32 epochs over 200
    assert scratch_epochs == (2.0 if quick else 32.0)
    assert calls["teacher"] == ((ctx, "digits", [str(i) for i in range(10)], out, quick), {})
    assert calls["transfer"] == (("digits", train, test), {"quick": quick, "seed": 3})
    assert calls["scratch"] == (
        ([str(i) for i in range(10)], 8, train),
        {"seed": 3, "epochs": scratch_epochs, "out": out / "runs" / "scratch"},
    )
    assert calls["distill"] == (
        (teacher, [str(i) for i in range(10)], 8, train, test),
        dict(
            seed=3, epochs=epochs, teacher_name="big", out=out / "runs" / "kd_transfer", transfer=transfer,
            save_dir=out, dataset_name="digits", overwrite="OVERWRITE",
        ),
    )  # fmt: skip
    assert [r["model"] for r in rows] == [
        "big (teacher: trained on more; 50 test images)",
        f"student from scratch (200 labelled, {scratch_epochs:g} epochs = {4 * int(scratch_epochs)} steps)",
        f"student distilled from big on 200 labelled + 300 unlabelled (T=4, alpha=0.3, cached logits; "
        f"{epochs:g} epochs = {8 * int(epochs)} steps)",
    ]
    assert rows[0]["parameters"] == sum(p.numel() for p in teacher.parameters())
    assert rows[1]["parameters"] == sum(p.numel() for p in student.parameters()) != rows[0]["parameters"]
    assert rows[2]["parameters"] == 99 and rows[2]["saved"] == str(result.output_dir)
    assert all(0 <= r["seconds"] < 30 for r in rows)
