"""Image classification datasets as ``datasets.DatasetDict`` with an ``image`` column and a ClassLabel ``label``.

Sources: a Hub dataset id, a local ``imagefolder``, and the built-in offline sources of
:mod:`hfnet.builtin_datasets` (``digits``, ``fashion_mnist``, ``mnist``: built once, then loaded from a cache).
Preprocessing comes from the model (:class:`hfnet.preprocessing.Preprocessing`), so any dataset feeds any loaded model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from huggingface_hub import constants
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hfnet import builtin_datasets
from hfnet.builtin_datasets import BUILTIN_DATASETS
from hfnet.errors import HfnetError
from hfnet.preprocessing import with_model_transform

logger = logging.getLogger(__name__)


def _subsample(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Indices of at most ``per_class`` examples of every class, chosen with ``seed``, in original order."""
    if per_class is None:
        return np.arange(len(labels))
    if per_class < 1:
        raise HfnetError(f"samples_per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


# ---------------------------------------------------------------------- Hub / imagefolder datasets
def _image_column(features, image_column: str | None, where: str, how: str) -> str:
    """``image_column``, or the first image column of ``features``; refuses a missing or non-image column, saying
    ``how`` to name it."""
    if image_column is None:
        images = [k for k, v in features.items() if isinstance(v, datasets.Image)]
        if not images:
            raise HfnetError(f"{where} has no image column (columns: {', '.join(features)}); name it with {how}")
        image_column = images[0]
    if image_column not in features:
        raise HfnetError(
            f"{where} has no column '{image_column}' (columns: {', '.join(features)}); name it with {how}"
        )
    if not isinstance(features[image_column], datasets.Image):
        raise HfnetError(
            f"column '{image_column}' of {where} holds {type(features[image_column]).__name__}, not images; "
            f"name the image column with {how}"
        )
    return image_column


def _pick_columns(ds, image_column: str | None, label_column: str | None, where: str) -> tuple[str, str]:

    features = ds.features
    image_column = _image_column(features, image_column, where, "image_column=/--image-column")
    if label_column is None:
        labels = [k for k, v in features.items() if isinstance(v, datasets.ClassLabel)]
        labels += [k for k in ("label", "labels", "fine_label", "coarse_label") if k in features and k not in labels]
        if not labels:
            raise HfnetError(
                f"{where} has no label column (columns: {', '.join(features)}); name it with label_column=/--label-column"
            )
        label_column = labels[0]
    if label_column not in features:
        raise HfnetError(f"{where} has no column '{label_column}' (columns: {', '.join(features)})")
    return image_column, label_column


def _normalise_dict(dd, image_column: str | None, label_column: str | None, where: str, seed: int):

    first = dd[next(iter(dd))]
    image_column, label_column = _pick_columns(first, image_column, label_column, where)
    out = {}
    for split, ds in dd.items():
        ds = ds.select_columns([image_column, label_column])
        if image_column != "image":
            ds = ds.rename_column(image_column, "image")
        if label_column != "label":
            ds = ds.rename_column(label_column, "label")
        out[split] = ds
    dd = datasets.DatasetDict(out)
    if not isinstance(dd[next(iter(dd))].features["label"], datasets.ClassLabel):
        dd = dd.class_encode_column("label")
    if "test" not in dd:
        other = "validation" if "validation" in dd else None
        if other:
            dd["test"] = dd.pop(other)
        else:
            split = dd["train"].train_test_split(test_size=0.2, seed=seed, stratify_by_column="label")
            dd = datasets.DatasetDict({"train": split["train"], "test": split["test"]})
    return datasets.DatasetDict({"train": dd["train"], "test": dd["test"]})


def _check_class_folders(path: Path) -> None:
    """An image folder for classification holds one sub-folder per class, at least two (else it has no labels)."""
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    splits = {"train", "test", "validation", "valid", "val"}
    if classes and set(classes) <= splits:  # train/ test/ layout: the classes are one level down
        classes = sorted({c.name for s in classes for c in (path / s).iterdir() if c.is_dir()})
    if len(classes) < 2:
        found = f"only the class folder '{classes[0]}'" if classes else "no class sub-folders"
        raise HfnetError(
            f"image folder {path} has {found}; an image classification folder needs one sub-folder per class "
            "(at least two), e.g. DIR/cat/*.png and DIR/dog/*.png"
        )


def _load_raw(name: str, *, labelled: bool = True):
    """The ``DatasetDict`` a Hub id or a local folder names, as ``datasets`` loads it, and how to name it in errors.

    ``labelled=False`` accepts an image folder without class sub-folders (an unlabelled transfer set)."""

    path = Path(name).expanduser()
    try:
        if path.is_dir():
            if labelled:
                _check_class_folders(path)
            dd = datasets.load_dataset("imagefolder", data_dir=str(path))
            where = f"image folder {path}"
        elif name.startswith((".", "/", "~")) or name.count("/") > 1:
            raise HfnetError(f"no such dataset folder: {path}")
        else:
            dd = datasets.load_dataset(name)
            where = f"Hub dataset '{name}'"
    except HfnetError:
        raise
    except Exception as e:  # noqa: BLE001 - one clear line for any loading failure
        hint = (
            "HF_HUB_OFFLINE=1 and it is not cached"
            if constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE") == "1"
            else f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
        )
        raise HfnetError(
            f"cannot load dataset '{name}' ({hint}). Use a built-in ({', '.join(BUILTIN_DATASETS)}), "
            "a local imagefolder (one sub-folder per class), or download the Hub dataset while online."
        ) from e
    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"train": dd})
    return dd, where


def _load_external(name: str, image_column: str | None, label_column: str | None, seed: int):

    dd, where = _load_raw(name)
    return _normalise_dict(dd, image_column, label_column, where, seed)


def _builtin_key(name: str) -> str | None:
    """The built-in dataset ``name`` spells (``fashion-mnist`` -> ``fashion_mnist``), None for a Hub id or a folder."""
    key = name.replace("-", "_").lower()
    return key if key in BUILTIN_DATASETS and not Path(name).is_dir() else None


def _local_builtin(key: str):
    """The built-in dataset from this machine's files, or None (with a warning: the caller loads the Hub copy)."""
    dd = builtin_datasets.load_builtin(key)
    if dd is None:
        logger.warning(
            "no local %s files; loading the Hub copy %s (for the offline files: %s)",
            key,
            builtin_datasets.hub_id(key),
            builtin_datasets.install_hint(key),
        )
    return dd


def load_image_split(name_or_path: str, split: str = "train", *, image_column: str | None = None):
    """The images of one split, labels dropped: a ``Dataset`` with the single column ``image`` (``datasets.Image``).

    Args:
        name_or_path: ``digits``, ``fashion_mnist``, ``mnist``, a Hub dataset id, or a local image folder (class
            sub-folders are optional: a folder of images is one ``train`` split).
        split: the split to read (``train``, ``test``, or any split the dataset has).
        image_column: the image column when it cannot be detected (the first ``Image`` feature).
    """

    name = str(name_or_path)
    key = _builtin_key(name)
    dd = _local_builtin(key) if key else None
    if dd is not None:
        where = f"built-in dataset '{key}'"
    else:
        dd, where = _load_raw(builtin_datasets.hub_id(key)) if key else _load_raw(name, labelled=False)
    if split not in dd:
        raise HfnetError(f"{where} has no split '{split}' (splits: {', '.join(dd)}); pick one of them")
    ds = dd[split]
    image_column = _image_column(ds.features, image_column, where, "the image column option")
    ds = ds.select_columns([image_column])
    if image_column != "image":
        ds = ds.rename_column(image_column, "image")
    if len(ds) == 0:
        raise HfnetError(f"the {split} split of {where} is empty")
    return ds


def load_image_dataset(
    name_or_path: str,
    *,
    image_column: str | None = None,
    label_column: str | None = None,
    samples_per_class: int | None = None,
    test_samples_per_class: int | None = None,
    seed: int = 0,
):
    """Load an image classification dataset as a ``DatasetDict`` with splits ``train`` and ``test``.

    Args:
        name_or_path: ``digits``, ``fashion_mnist``, ``mnist``, a Hub dataset id, or a local imagefolder.
        image_column / label_column: the columns to use when they cannot be detected (Image / ClassLabel features).
        samples_per_class: keep at most this many training examples of every class (chosen with ``seed``).
        test_samples_per_class: the same for the test split.
        seed: the subsampling seed.

    Returns:
        ``DatasetDict`` whose splits have an ``image`` column (``datasets.Image``) and a ``label`` ClassLabel.
    """

    name = str(name_or_path)
    key = _builtin_key(name)
    dd = _local_builtin(key) if key else None
    if dd is None:
        dd = _load_external(builtin_datasets.hub_id(key) if key else name, image_column, label_column, seed)
    dd = _subsample_dict(dd, samples_per_class, test_samples_per_class, seed)
    for split, ds in dd.items():
        if len(ds) == 0:
            raise HfnetError(f"the {split} split of '{name}' is empty")
    return dd


def _subsample_dict(dd, samples_per_class: int | None, test_samples_per_class: int | None, seed: int):

    out = {}
    for split, per_class in (("train", samples_per_class), ("test", test_samples_per_class)):
        ds = dd[split]
        if per_class is not None:
            ds = ds.select(_subsample(np.asarray(ds.data.column("label")), per_class, seed).tolist())
        out[split] = ds
    return datasets.DatasetDict(out)


def class_names(dataset) -> list[str]:
    """The class names of a Dataset / DatasetDict's ``label`` ClassLabel."""

    ds = dataset[next(iter(dataset))] if isinstance(dataset, datasets.DatasetDict) else dataset
    feature = ds.features.get("label")
    if not isinstance(feature, datasets.ClassLabel):
        raise HfnetError("the dataset has no ClassLabel 'label' column; load it with hfnet.load_image_dataset")
    return list(feature.names)


# ---------------------------------------------------------------------- preprocessing
# the pixels come from the model's own processor (hfnet.preprocessing); these names stay importable from here


def collate_fn(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack transformed examples into ``{"pixel_values": [B, 3, H, W], "labels": [B]}``."""
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "labels": torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long),
    }


def is_transformed(dataset) -> bool:
    """Whether examples already come out as ``pixel_values`` (a model transform is attached)."""
    return "pixel_values" in dataset[0] if len(dataset) else False


def ensure_transformed(dataset, preprocessing, *, train: bool = False):
    """``dataset`` as the model consumes it: the model transform attached unless one already is."""
    if dataset is None or is_transformed(dataset):
        return dataset
    return with_model_transform(dataset, preprocessing, train=train)


def model_batches(dataset, preprocessing, batch_size: int, *, progress: bool = False, desc: str | None = None):
    """Batches ``{"pixel_values", "labels"}`` of a raw or transformed dataset, in order (no shuffling)."""

    loader = DataLoader(
        ensure_transformed(dataset, preprocessing), batch_size=batch_size, shuffle=False, collate_fn=collate_fn
    )
    return tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False)
