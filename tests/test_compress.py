"""hfnet compress: structured pruning + KD recovery end to end on a tiny ViT; the teacher stays frozen and in eval
mode at every step of every stage; hints vanish for a student equal to its teacher; mismatched classes and CNNs are
refused with what to do."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from hfnet.compression.config import CompressConfig, stage_sparsities
from hfnet.compression.trainer import block_hint_loss, fingerprint
from hfnet.distillation.hint import capture_outputs
from hfnet.errors import HfnetError
from hfnet.jobs import run_job

DIGITS = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def digit_vit_dir(tmp_path_factory):
    """A tiny transformers ViT (4 heads, 2 blocks) with the 10 digit classes, briefly trained so KD has signal."""
    from hfnet.data import load_image_dataset
    from hfnet.training import train_classifier
    from hfnet.zoo import tiny_vit

    clf = tiny_vit(DIGITS, image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=4, seed=0)
    data = load_image_dataset("digits", samples_per_class=20, test_samples_per_class=5, seed=0)
    work = tmp_path_factory.mktemp("teacher_run")
    train_classifier(clf, data["train"], output_dir=str(work), max_steps=15, batch_size=32, disable_tqdm=True)
    return clf.save_pretrained(tmp_path_factory.mktemp("digit_vit") / "model")


def _compress(model, out, *extra):
    argv = [str(model), "--dataset", "digits", "--samples-per-class", "20", "--test-samples-per-class", "5"]
    argv += ["--output-dir", str(out), "--max-steps", "4", "--batch-size", "16", "--calibration-samples", "32"]
    return run_job("compress", [*argv, *extra])


def test_stage_sparsities_reach_the_target():
    stages = stage_sparsities(0.75, 3)
    assert [round(t, 6) for t, _ in stages] == [0.25, 0.5, 0.75]
    left = 1.0
    for _, remove in stages:
        left *= 1 - remove
    assert left == pytest.approx(0.25)
    assert stage_sparsities(0.5, 1) == [(0.5, 0.5)]


@pytest.mark.parametrize(
    "kwargs", [{"stages": 0}, {"sparsity": 1.0}, {"teacher_of_stage": "best"}, {"alpha": 1.5}, {"hint_weight": -1}]
)
def test_config_refuses_bad_values(kwargs):
    with pytest.raises(HfnetError):
        CompressConfig(**kwargs)


def test_compress_end_to_end(digit_vit_dir, tmp_path, monkeypatch):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    import hfnet.compression.pipeline as pipeline

    kept = {}
    real_finish = pipeline.finish

    def spy_finish(classifier, *args, **kwargs):
        kept["model"] = classifier
        return real_finish(classifier, *args, **kwargs)

    monkeypatch.setattr(pipeline, "finish", spy_finish)
    out = tmp_path / "small"
    view = ("--augment", "crop+mixup", "--mixup-alpha", "0.5")  # the consistent-teaching options, from the CLI
    assert _compress(digit_vit_dir, out, "--sparsity", "0.5", *view, "--json", str(tmp_path / "s.json")) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["params_compressed"] < summary["params_teacher"]
    assert summary["stages"][0]["steps"] == 4
    # the sizes are those of the weight files on disk
    assert summary["bytes_compressed"] == (out / "model.safetensors").stat().st_size
    assert summary["bytes_teacher"] == (digit_vit_dir / "model.safetensors").stat().st_size
    plain = AutoModelForImageClassification.from_pretrained(out).eval()
    teacher = AutoModelForImageClassification.from_pretrained(digit_vit_dir)
    assert plain.config.intermediate_size * plain.config.num_attention_heads < (
        teacher.config.intermediate_size * teacher.config.num_attention_heads
    )
    assert AutoImageProcessor.from_pretrained(out).size == AutoImageProcessor.from_pretrained(digit_vit_dir).size
    # the saved model gives the logits of the in-memory compressed model
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain(pixel_values=x).logits, kept["model"].eval().logits(x))
    from PIL import Image
    from transformers import pipeline

    preds = pipeline("image-classification", model=str(out))(Image.new("RGB", (32, 32)))
    assert {p["label"] for p in preds} <= set(DIGITS)
    card = (out / "README.md").read_text()
    assert "Teacher vs compressed" in card
    rows = [line for line in card.splitlines() if line.startswith("| parameters (teacher -> compressed)")]
    assert len(rows) == 1
    teacher_params, compressed_params = (int(x) for x in rows[0].split("|")[2].split("(")[0].split("->"))
    assert (teacher_params, compressed_params) == (summary["params_teacher"], summary["params_compressed"])
    assert "| stage 1 |" in card and "CPU latency, batch 32" in card
    assert "| consistent view (teacher and student) | crop+mixup, mixup Beta(0.5, 0.5) |" in card
    mb = (out / "model.safetensors").stat().st_size / 2**20
    assert f"-> {mb:.2f} MB" in next(line for line in card.splitlines() if "file size (model.safetensors)" in line)
    assert "model-index" in card and "hfnet compress" in card


def test_teacher_frozen_and_eval_every_step_of_every_stage(digit_vit_dir):
    from hfnet.compression.pipeline import load_teacher, run_stages
    from hfnet.compression.trainer import TeacherFrozenCallback
    from hfnet.data import load_image_dataset
    from hfnet.options import TrainingOptions

    data = load_image_dataset("digits", samples_per_class=10, test_samples_per_class=2, seed=0)
    teacher = load_teacher(str(digit_vit_dir), DIGITS)
    before = fingerprint(teacher)
    seen = []
    original = TeacherFrozenCallback.check

    def spy(self):
        seen.append((id(self.teacher), self.teacher.training, any(p.requires_grad for p in self.teacher.parameters())))
        original(self)

    config = CompressConfig(sparsity=0.5, stages=2, teacher_of_stage="previous", hint_weight=1.0,
                            calibration_samples=16, calibration_batch_size=16)  # fmt: skip
    training = TrainingOptions(max_steps=6, batch_size=16)
    TeacherFrozenCallback.check = spy
    try:
        student, stages = run_stages(teacher, data, config, training, "unused")
    finally:
        TeacherFrozenCallback.check = original
    assert [s.steps for s in stages] == [3, 3]
    assert [s.teacher_checks for s in stages] == [7, 7]  # begin + end of each of 3 steps, and once after training
    assert len({t for t, _, _ in seen}) == 2  # stage 2's teacher is stage 1's model
    assert not any(training or grad for _, training, grad in seen)
    assert fingerprint(teacher) == before and not teacher.training
    assert student.model.config.num_attention_heads * student.model.config.intermediate_size < 4 * 64


def test_frozen_callback_catches_a_teacher_in_train_mode(digit_vit_dir):
    from hfnet.classifier import load_classifier
    from hfnet.compression.trainer import TeacherFrozenCallback

    teacher = load_classifier(digit_vit_dir).requires_grad_(False).eval()
    callback = TeacherFrozenCallback(teacher)
    callback.check()
    teacher.blocks()[0][1].train()
    with pytest.raises(RuntimeError, match="training mode"):
        callback.check()
    teacher.eval()
    with torch.no_grad():
        next(teacher.parameters()).add_(1.0)
    with pytest.raises(RuntimeError, match="changed"):
        callback.check()


def test_hint_loss_is_zero_when_student_is_teacher(digit_vit_dir):
    from hfnet.classifier import load_classifier

    teacher = load_classifier(digit_vit_dir)
    student = copy.deepcopy(teacher)
    blocks = [name for name, _ in teacher.blocks()]
    x = torch.randn(3, 3, 32, 32)
    with capture_outputs(student, blocks) as s, capture_outputs(teacher, blocks) as t, torch.no_grad():
        student(pixel_values=x), teacher(pixel_values=x)
    assert block_hint_loss(dict(s), dict(t)).item() == 0.0
    with torch.no_grad():
        next(student.blocks()[0][1].parameters()).add_(0.5)
        with capture_outputs(student, blocks) as s2:
            student(pixel_values=x)
    assert block_hint_loss(dict(s2), dict(t)).item() > 0.0


def test_class_mismatch_points_to_finetune(tiny_vit_dir, tmp_path, capsys):
    assert _compress(tiny_vit_dir, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "hfnet finetune" in err and "classes" in err
    assert not (tmp_path / "out").exists()


def test_cnn_refused_with_what_is_needed(tiny_resnet_dir, tmp_path, capsys):
    assert _compress(tiny_resnet_dir, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "channel pruning" in err and "ViT" in err
