"""Models, configs and command lines the distillation tests share (imported like fakehub)."""

from __future__ import annotations

from hfnet.distillation.config import DistillationConfig
from hfnet.zoo import tiny_resnet, tiny_vit

STUDENT = "zoo:tiny_vit:hidden_size=32,num_layers=2,num_heads=2,patch_size=4"


def kd_teacher(names):
    return tiny_resnet(names, image_size=32, seed=1)


def kd_student(names, seed=0):
    """A tiny ViT: no BatchNorm, no dropout: per-sample computations, so micro-batching cannot change the gradient."""
    return tiny_vit(names, image_size=16, patch_size=4, hidden_size=32, num_layers=2, num_heads=2, seed=seed)


def chain_models():
    """A teacher, an assistant and a student: three small ResNets of decreasing width over classes a, b, c."""
    names = ["a", "b", "c"]
    teacher = tiny_resnet(names, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=0)
    assistant = tiny_resnet(names, embedding_size=8, hidden_sizes=(8, 8), depths=(1, 1), seed=1)
    student = tiny_resnet(names, embedding_size=4, hidden_sizes=(4, 8), depths=(1, 1), seed=2)
    return teacher, assistant, student


def kd_args(tmp_path, **kw) -> DistillationConfig:
    """A short CPU run writing under ``tmp_path / "out"``; ``kw`` overrides any field."""
    base = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        max_steps=3,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    base.update(kw)
    return DistillationConfig(**base)


def distill_argv(teacher_dir, out, *extra, student: str = STUDENT) -> list[str]:
    """``hfnet distill`` of ``student`` from ``teacher_dir`` on 5 digits per class, 2 steps, into ``out``."""
    return [
        "distill",
        "--teacher",
        str(teacher_dir),
        "--student",
        student,
        "--image-size",
        "16",
        "--dataset",
        "digits",
        "--samples-per-class",
        "5",
        "--test-samples-per-class",
        "2",
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--output",
        str(out),
        *extra,
    ]
