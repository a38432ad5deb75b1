"""``hfnet demo`` step: distill a Fashion-MNIST ResNet into a 4x smaller student that has only 1000 labels.

The situation distillation is for: a teacher trained on more labelled data than the student's user has (here the
zoo's fashion_resnet recipe on ``TEACHER_PER_CLASS`` labelled images per class, as a published model would be), and
a student with 1000 labelled images plus ``UNLABELED`` unlabelled ones (labels discarded, none a labelled or a test
image: the transfer set of Hinton et al. 2015, sec. 2). Two students of the same architecture, seed and optimiser,
for the same optimiser steps: from scratch on the 1000 labelled images (the epochs that give the same steps: 47 for
``EPOCHS`` = 16), and distilled on those 1000 plus the unlabelled images (``EPOCHS`` epochs over 3x the images). The
step is scored on ``TEST_PER_CLASS`` test images per class (2000). The distilled student is saved with its card.
``benchmarks/distillation/transfer.py --teacher-per-class 600 --epochs 16`` measures the same over 3 seeds with KD
on the 1000 alone and self-training controls; without a Fashion-MNIST teacher (digits fallback) the zoo's model
teaches.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

__all__ = ["demo_step", "distill_student", "fashion_resnet_teacher", "scratch_student", "strong_teacher_data"]

STUDENT = dict(embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1))
KD = dict(temperature=4.0, alpha=0.3)  # best of 6 settings tried on the demo at 1000 labelled images
UNLABELED = 2000  # unlabelled transfer images
TEACHER_PER_CLASS = 600  # the teacher's labelled images per class (the student has 100)
EPOCHS = 16  # over the 1000 + 2000 images (752 steps); the scratch student: 47 over its 1000 (752 steps)
TEST_PER_CLASS = 200
BATCH, LR = 64, 2e-3
FASHION_RESNET_EPOCHS = 4  # the zoo's fashion_resnet (hfnet.demo.prepare_zoo)


def strong_teacher_data(per_class: int, seed: int = 5):
    """``per_class`` labelled Fashion-MNIST training images per class (their own draw, ``seed``), for a teacher that
    was trained on more labels than the student has, as a published model is; never a test image."""
    from hfnet.data import load_image_dataset

    return load_image_dataset("fashion_mnist", samples_per_class=per_class, test_samples_per_class=1, seed=seed)[
        "train"
    ]


def fashion_resnet_teacher(names: list[str], labelled: Any, out: Path, *, seed: int):
    """The zoo's fashion_resnet (its architecture, init ``seed + 1``, recipe and epochs) trained on ``labelled``."""
    from hfnet.demo import train_zoo_recipe
    from hfnet.zoo import tiny_resnet

    teacher = tiny_resnet(names, image_size=28, seed=seed + 1)
    train_zoo_recipe(teacher, labelled, out, epochs=FASHION_RESNET_EPOCHS, seed=seed)
    return teacher


def _steps(n: int, epochs: float) -> int:
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
    overwrite: bool = False,
    dataset_name: str | None = None,
    teacher_name: str = "teacher",
):
    """The same student distilled from ``teacher`` (cached logits) on ``train`` (+ ``transfer``); the stage result."""
    import torch

    from hfnet.distillation.chain import distill_chain
    from hfnet.zoo import tiny_resnet

    student = tiny_resnet(names, image_size=size, seed=seed + 7, **STUDENT)
    config = _kd_config(out, seed=seed, epochs=epochs, max_steps=max_steps)
    with torch.random.fork_rng():
        (result,) = distill_chain(
            [teacher, student],
            train,
            config,
            names=[teacher_name, "student"],
            eval_dataset=test,
            output_dir=save_dir,
            dataset_name=dataset_name,
            overwrite=overwrite,
            transfer_set=transfer,
        )
    return result


def _kd_config(out: Path, *, seed: int, epochs: float, max_steps: int):
    """The distilled student's settings: the scratch student's batch, learning rate and seed, ``KD`` on cached teacher
    logits, no Trainer checkpoints."""
    from hfnet.distillation.config import DistillationConfig

    return DistillationConfig(
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


def demo_step(ctx: Any) -> list[dict[str, Any]]:
    """Teacher, scratch student and KD + unlabelled transfer-set student (same steps); the last is saved."""
    quick = getattr(ctx, "quick", False)
    data_key, names, train, test = _step_data(ctx)
    out = ctx.output_dir / "distillation"
    epochs = 1.0 if quick else float(EPOCHS)
    t0 = time.perf_counter()
    key, teacher, teacher_text = _teacher(ctx, data_key, names, out, quick)
    rows = [_evaluated_row(f"{key} (teacher: {teacher_text}; {len(test)} test images)", teacher, test, t0)]
    transfer = _transfer_set(data_key, train, test, quick=quick, seed=ctx.seed)
    n, m = len(train), len(transfer.images)
    scratch_epochs = _scratch_epochs(n, m, epochs)

    t0 = time.perf_counter()
    scratch = scratch_student(
        names, _size(teacher), train, seed=ctx.seed, epochs=scratch_epochs, out=out / "runs" / "scratch"
    )
    label = f"student from scratch ({n} labelled, {scratch_epochs:g} epochs = {_steps(n, scratch_epochs)} steps)"
    rows.append(_evaluated_row(label, scratch, test, t0))
    t0 = time.perf_counter()
    result = distill_student(
        teacher, names, _size(teacher), train, test, seed=ctx.seed, epochs=epochs, teacher_name=key,
        out=out / "runs" / "kd_transfer", transfer=transfer, save_dir=out, dataset_name=data_key,
        overwrite=ctx.overwrite,
    )  # fmt: skip
    rows.append(_distilled_row(key, result, n, m, epochs, t0))
    return rows


def _step_data(ctx: Any) -> tuple[str, list[str], Any, Any]:
    """The step's dataset key, class names, training split and test split (Fashion-MNIST when the zoo has its
    teacher, else digits)."""
    from hfnet.data import class_names, load_image_dataset

    data_key = "fashion_mnist" if "fashion_resnet" in ctx.zoo else "digits"
    data = ctx.datasets[data_key]
    names = class_names(data)
    train, test = data["train"], data["test"]
    if data_key == "fashion_mnist":  # the zoo's 500 test images cannot separate the rows: 2000 here (forward only)
        test = load_image_dataset(data_key, test_samples_per_class=TEST_PER_CLASS, seed=ctx.seed)["test"]
    return data_key, names, train, test


def _transfer_set(data_key: str, train: Any, test: Any, *, quick: bool, seed: int):
    """``UNLABELED`` unlabelled training images (a tenth when ``quick``), none of them a ``train`` or ``test`` one."""
    from hfnet.distillation.data import load_transfer_set

    return load_transfer_set(
        data_key,
        "train",
        samples=(UNLABELED // 10) if quick else UNLABELED,
        seed=seed,
        exclude={"train": train, "eval": test},
    )


def _scratch_epochs(n: int, m: int, epochs: float) -> float:
    """The scratch student's epochs over its ``n`` images: as many optimiser steps as the distilled student takes in
    ``epochs`` over ``n + m`` (whole epochs)."""
    return float(round(_steps(n + m, epochs) / _steps(n, 1)))


def _evaluated_row(label: str, model: Any, test: Any, t0: float) -> dict[str, Any]:
    """A table row: ``model``'s size and accuracy on ``test``, and the seconds since ``t0`` (evaluation included)."""
    from hfnet.evaluation import evaluate_classifier

    return {
        "model": label,
        "parameters": sum(p.numel() for p in model.parameters()),
        "accuracy": evaluate_classifier(model, test, progress=False)["accuracy"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _distilled_row(key: str, result: Any, n: int, m: int, epochs: float, t0: float) -> dict[str, Any]:
    """The distilled student's row, from its stage result (measured and saved by the chain)."""
    return {
        "model": f"student distilled from {key} on {n} labelled + {m} unlabelled (T={KD['temperature']:g}, "
        f"alpha={KD['alpha']:g}, cached logits; {epochs:g} epochs = {_steps(n + m, epochs)} steps)",
        "parameters": int(result.metrics["parameters"]),
        "accuracy": result.metrics["accuracy"],
        "seconds": round(time.perf_counter() - t0, 1),
        "saved": str(result.output_dir),
    }


def _size(classifier: Any) -> int:
    return classifier.preprocessing.image_size[0]


def _teacher(ctx: Any, data_key: str, names: list[str], out: Path, quick: bool) -> tuple[str, Any, str]:
    """The teacher: on Fashion-MNIST the zoo's fashion_resnet recipe trained on ``TEACHER_PER_CLASS`` labelled images
    per class (saved under ``out/teacher`` with its card); on the digits fallback the zoo's digits_resnet."""
    from hfnet._io import prepare_output_dir, record_written
    from hfnet.cards import ModelCardInfo
    from hfnet.classifier import load_classifier

    if data_key != "fashion_mnist":
        teacher = load_classifier(ctx.zoo["digits_resnet"])
        if teacher.class_names is None:
            teacher.class_names = names
        return "digits_resnet", teacher, "the zoo's, trained on the same labelled images"
    per_class = 30 if quick else TEACHER_PER_CLASS
    labelled = strong_teacher_data(per_class)
    teacher = fashion_resnet_teacher(names, labelled, out / "runs" / "teacher", seed=ctx.seed)
    epochs = FASHION_RESNET_EPOCHS
    name = f"fashion_resnet_{len(labelled)}"
    info = ModelCardInfo(
        title=f"hfnet demo: {name}",
        summary=f"The teacher of `hfnet demo`'s distillation step: the zoo's fashion_resnet recipe ({epochs} epochs) "
        f"on {len(labelled)} labelled Fashion-MNIST training images, more labels than the student gets.",
        datasets=["fashion_mnist"],
        command=f"hfnet demo --seed {ctx.seed} --steps distill",
        config={"labelled_images": len(labelled), "epochs": epochs, "learning_rate": 2e-3, "batch_size": 64},
        tags=["hfnet-demo"],
    )
    # the step's folder holds several results: each is recorded as hfnet's, so a rerun may replace it
    prepare_output_dir(out, overwrite=ctx.overwrite)
    teacher.save_pretrained(out / "teacher", card=info, overwrite=ctx.overwrite)
    record_written(out, ["teacher"])
    return name, teacher, f"the zoo's recipe on {len(labelled)} labelled images, more than the student's"
