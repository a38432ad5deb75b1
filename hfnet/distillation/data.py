"""Datasets for distillation: the student's pixels and, when the teacher preprocesses differently, the teacher's."""

from __future__ import annotations

from typing import Any

from hfnet.data import is_transformed
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing, build_transform

__all__ = ["with_distillation_transform"]


def with_distillation_transform(
    dataset: Any, student: Preprocessing, teacher: Preprocessing, *, train: bool = False
) -> Any:
    """Attach a transform giving ``pixel_values`` (student) and ``teacher_pixel_values`` (teacher) per example.

    Both come from the raw image, so neither model sees resampled pixels. With ``train=True`` (random crops) only
    the student's pixels are produced and the trainer derives the teacher's from them, so both see the same crop.
    Already transformed datasets pass through (the trainer converts their pixels on the fly).
    """
    from hfnet.distillation.trainer import same_preprocessing

    if dataset is None or is_transformed(dataset):
        return dataset
    missing = {"image", "label"} - set(dataset.column_names)
    if missing:
        raise HfnetError(
            f"dataset lacks column(s) {sorted(missing)} (has {dataset.column_names}); load it with hfnet.load_image_dataset"
        )
    student_fn = build_transform(student, train=train)
    teacher_fn = None if train or same_preprocessing(student, teacher) else build_transform(teacher)

    def apply(batch: dict[str, list]) -> dict[str, list]:
        out = {"pixel_values": [student_fn(im) for im in batch["image"]], "labels": list(batch["label"])}
        if teacher_fn is not None:
            out["teacher_pixel_values"] = [teacher_fn(im) for im in batch["image"]]
        return out

    return dataset.with_transform(apply)
