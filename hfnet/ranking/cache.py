"""A feature cache for ranking: one file per (candidate and its revision, dataset fingerprint, samples, preprocessing).

Scoring reads only a candidate's logits and penultimate features on the target samples, so once they are on disk,
re-scoring with other scores, resuming an interrupted run, or ranking again with more candidates costs no forward
pass (and no model load). Each entry is written atomically as soon as its forward pass ends: a candidate failing
later, or the run being killed, loses nothing already cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# bump when what is cached changes meaning (how features are taken from the model)
CACHE_VERSION = 1


@dataclass
class CachedOutputs:
    """What a candidate's forward pass gave, and what scoring needs about the candidate without loading it."""

    logits: np.ndarray
    features: np.ndarray
    num_params: int
    class_names: list[str] | None


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """sha256 of every file's relative path and content under ``folder`` (hidden files skipped)."""
    root = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(str(path.relative_to(root)).encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def hub_revision(repo_id: str) -> str | None:
    """The commit hash of the snapshot ``repo_id`` resolves to (the Hub's, or the local cache's when offline)."""
    try:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo_id, "config.json"))
    except Exception as e:  # noqa: BLE001 - no revision: the candidate is not cached, it still runs
        logger.info("no revision for %s (%s): its features are not cached", repo_id, e)
        return None
    return path.parent.name if path.parent.parent.name == "snapshots" else None


def candidate_fingerprint(candidate: Any) -> str | None:
    """What identifies a candidate's weights: folder content hash, Hub commit, or a hash of a loaded model's tensors.

    None when it cannot be told (then the candidate is never cached).
    """
    if hasattr(candidate, "logits_and_features"):
        h = hashlib.sha256()
        for name, tensor in sorted(candidate.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        h.update(json.dumps(candidate.class_names).encode())
        h.update(json.dumps(candidate.preprocessing.to_dict(), sort_keys=True).encode())
        return "model:" + h.hexdigest()
    name = str(candidate)
    for prefix in ("hf-hub:", "local-dir:"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    path = Path(name).expanduser()
    if path.is_dir():
        return "folder:" + folder_fingerprint(path)
    revision = hub_revision(name)
    return None if revision is None else f"hub:{name}@{revision}"


def dataset_fingerprint(dataset, indices: np.ndarray) -> str:
    """The dataset's content fingerprint (``datasets`` computes it from its data and transforms) and the samples."""
    fingerprint = getattr(dataset, "_fingerprint", None)
    if fingerprint is None:  # not a datasets.Dataset: hash the labels and length (weaker; documented)
        fingerprint = hashlib.sha256(np.asarray(dataset["label"]).tobytes()).hexdigest()
    h = hashlib.sha256(str(fingerprint).encode())
    h.update(np.asarray(indices, dtype=np.int64).tobytes())
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class FeatureCache:
    """``<cache_dir>/<key>.npz`` entries; ``key`` hashes the candidate, dataset and sample fingerprints."""

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.root = Path(cache_dir).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(candidate_id: str, data_id: str) -> str:
        return hashlib.sha256(f"v{CACHE_VERSION}|{candidate_id}|{data_id}".encode()).hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def load(self, key: str) -> CachedOutputs | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return CachedOutputs(
                    logits=data["logits"],
                    features=data["features"],
                    num_params=int(meta["num_params"]),
                    class_names=meta["class_names"],
                )
        except Exception as e:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            logger.warning("ignoring unreadable cache entry %s (%s)", path, e)
            return None

    def save(self, key: str, outputs: CachedOutputs, description: str = "") -> Path:
        """Write atomically (temporary file renamed at the end): an entry is complete or absent."""
        import tempfile

        meta = {"num_params": outputs.num_params, "class_names": outputs.class_names, "candidate": description}
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, logits=outputs.logits, features=outputs.features, meta=np.asarray(json.dumps(meta)))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a cache entry is an ordinary file
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)
