"""Datasets for distillation: the student's pixels and, when the teacher preprocesses differently, the teacher's;
the unlabelled transfer set appended to the training set.

Transfer set: Hinton et al. 2015 (https://arxiv.org/abs/1503.02531, sections 2-3) train the distilled model on a
"transfer set" whose soft targets come from the teacher, so it needs no labels; Beyer et al. 2022 ("patient and
consistent", https://arxiv.org/abs/2106.05237) and SimCLRv2 (https://arxiv.org/abs/2006.10029) distil on
unlabelled images. Here the unlabelled images join the training set with the label ``IGNORE_INDEX`` (-100) and the
loss gives them the soft term only (:func:`hfnet.distillation.losses.kd_loss_terms`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfnet.data import is_transformed
from hfnet.distillation.losses import IGNORE_INDEX
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing, build_transform

logger = logging.getLogger(__name__)

__all__ = [
    "TransferSet",
    "check_transfer_images",
    "load_transfer_set",
    "with_distillation_transform",
    "with_transfer_set",
]


@dataclass
class TransferSet:
    """Unlabelled images for distillation and where they came from (what a model card records).

    ``images`` has the single column ``image``; ``removed`` counts the images of the split left out because they
    equal a labelled training image (``removed["train"]``) or an evaluation image (``removed["eval"]``).
    """

    images: Any
    name: str
    split: str
    removed: dict[str, int]
    pool: int = 0  # images in the split before anything was left out or sampled

    def describe(self) -> str:
        """One line for the card: name, split, how many images, what was left out."""
        left_out = ", ".join(
            f"{n} equal to {'labelled training' if k == 'train' else 'evaluation'} images"
            for k, n in self.removed.items()
            if n
        )
        return (
            f"{len(self.images):,} unlabelled images of {self.name} ({self.split} split, {self.pool:,} images"
            + (f"; left out: {left_out}" if left_out else "")
            + ")"
        )


def _image_keys(dataset: Any) -> list[Any]:
    """One hashable key per image, the stored bytes (or the file path when only that is stored); no decoding."""
    column = dataset.with_format("arrow")[:]["image"]
    keys = []
    for item in column.to_pylist():
        if isinstance(item, dict):
            keys.append(item.get("bytes") or item.get("path"))
        else:
            keys.append(item)
    return keys


def load_transfer_set(
    name_or_path: str,
    split: str = "train",
    *,
    samples: int | None = None,
    image_column: str | None = None,
    seed: int = 0,
    exclude: dict[str, Any] | None = None,
) -> TransferSet:
    """Unlabelled images from ``name_or_path``'s ``split``, without any image of the ``exclude`` datasets.

    Args:
        name_or_path: what :func:`hfnet.data.load_image_split` reads (built-in, Hub id, image folder).
        split: the split to take the images from.
        samples: keep at most this many, drawn with ``seed`` after the exclusion (default: all).
        image_column: the image column when it cannot be detected.
        seed: the sampling seed.
        exclude: ``{"train": labelled_training_set, "eval": evaluation_set}`` (raw ``datasets.Dataset`` with an
            ``image`` column): an image stored identically there is left out, so no evaluation image is ever trained
            on and no labelled image appears twice.
    """
    from hfnet.data import load_image_split

    images = load_image_split(name_or_path, split, image_column=image_column)
    keys = _image_keys(images)
    keep = np.ones(len(keys), dtype=bool)
    removed: dict[str, int] = {}
    for role, other in (exclude or {}).items():
        if other is None:
            continue
        if not hasattr(other, "with_format") or "image" not in getattr(other, "column_names", []):
            raise HfnetError(
                f"the {role} set must be a raw datasets.Dataset with an 'image' column to keep its images out of the "
                "transfer set; pass it before any transform (hfnet.load_image_dataset gives that form)"
            )
        taken = set(_image_keys(other))
        hit = np.array([k in taken for k in keys], dtype=bool) & keep
        removed[role] = int(hit.sum())
        keep &= ~hit
    if not keep.any():
        raise HfnetError(
            f"every image of the {split} split of {name_or_path} is a labelled training or evaluation image "
            "(nothing left to distil on); take the transfer set from another split or dataset"
        )
    index = np.flatnonzero(keep)
    if samples is not None and samples < len(index):
        index = np.sort(np.random.default_rng(seed).choice(index, size=samples, replace=False))
    if removed.get("eval"):
        logger.warning(
            "left %d images of %s (%s) out of the transfer set: they equal evaluation images",
            removed["eval"],
            name_or_path,
            split,
        )
    return TransferSet(images.select(index.tolist()), str(name_or_path), split, removed, pool=len(keys))


def check_transfer_images(images: Any, preprocessings: dict[str, Preprocessing], count: int = 4) -> None:
    """Refuse, naming the model, when the first ``count`` unlabelled images cannot be prepared for every model."""
    for i in range(min(count, len(images))):
        try:
            image = images[i]["image"]
        except Exception as e:  # noqa: BLE001 - a file PIL cannot open
            raise HfnetError(
                f"unlabelled image {i} cannot be read ({type(e).__name__}: {e}); remove it or give image files "
                "PIL opens (PNG, JPEG, ...)"
            ) from None
        for role, pre in preprocessings.items():
            try:
                pixels = build_transform(pre)(image)
            except Exception as e:  # noqa: BLE001 - one clear line for any image the processor cannot take
                raise HfnetError(
                    f"unlabelled image {i} ({getattr(image, 'mode', type(image).__name__)}, "
                    f"{getattr(image, 'size', '?')}) cannot be prepared for the {role}: {type(e).__name__}: {e}; "
                    "give images the models' processors take (RGB or grayscale)"
                ) from None
            expected = (pre.channels, *tuple(pre.image_size))
            if tuple(pixels.shape) != expected:
                raise HfnetError(
                    f"unlabelled image {i} becomes pixels of shape {tuple(pixels.shape)} for the {role}, which "
                    f"expects {expected}; give images the models' processors can bring to that size"
                )


def with_transfer_set(train_dataset: Any, images: Any) -> Any:
    """``train_dataset`` (raw ``image``/``label``) followed by ``images`` labelled ``IGNORE_INDEX`` (-100).

    The ``label`` column becomes a plain ``int64`` (a ClassLabel cannot hold -100); the labelled examples keep their
    indices ``0 .. len(train_dataset) - 1``, so a logit cache or sampler indexes both parts alike.
    """
    import datasets

    if is_transformed(train_dataset) or not isinstance(train_dataset, datasets.Dataset):
        raise HfnetError(
            "a transfer set is appended to the raw training set (a datasets.Dataset with image/label columns, as "
            "hfnet.load_image_dataset gives it); pass the training set before any transform"
        )
    labelled = train_dataset.select_columns(["image", "label"]).cast_column("label", datasets.Value("int64"))
    unlabelled = images.select_columns(["image"]).cast_column("image", labelled.features["image"])
    unlabelled = unlabelled.add_column("label", [IGNORE_INDEX] * len(unlabelled))
    unlabelled = unlabelled.cast(labelled.features)
    return datasets.concatenate_datasets([labelled, unlabelled])


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
