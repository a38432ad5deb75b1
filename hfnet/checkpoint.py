"""The one checkpoint reader: the weight files of a Hub-format folder, read one tensor at a time.

hfnet reads every form the Hub ships (load, merge streaming, structured export and cards all come through here):

- ``model.safetensors`` (timm and transformers, one file);
- sharded safetensors: ``model-00001-of-0000N.safetensors`` + ``model.safetensors.index.json``;
- ``pytorch_model.bin`` and its sharded form with ``pytorch_model.bin.index.json`` (older transformers repos).

safetensors are read with ``pread`` (no memory map: ``safe_open`` keeps every read tensor's pages mapped, and counted
in the process's resident memory, until the handle closes), so a merge holding N parents open stays at "output + one
tensor per parent". ``.bin`` files are opened with ``torch.load(mmap=True, weights_only=True)``, one shard at a time.

hfnet writes transformers checkpoints as transformers does (``save_pretrained``'s default ``max_shard_size``, one
``model.safetensors`` below it) and timm checkpoints as one ``model.safetensors`` (what ``timm`` reads).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from huggingface_hub import save_torch_state_dict, split_torch_state_dict_into_shards
from safetensors.torch import save_file
from torch import Tensor

from hfnet.errors import HfnetError

__all__ = [
    "MAX_SHARD_SIZE",
    "CheckpointReader",
    "checkpoint_files",
    "save_state_dict",
    "verify_checkpoint",
    "weight_files",
]

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
OPEN_CLIP = "open_clip_model.safetensors"  # timm image towers of open_clip repos
MAX_SHARD_SIZE = "50GB"  # transformers' save_pretrained default

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _index_shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HfnetError(f"{index} is not a valid checkpoint index ({e}); re-save or re-download the model") from e
    shards = [index.parent / name for name in dict.fromkeys(weight_map.values())]
    missing = [p.name for p in shards if not p.is_file()]
    if missing:
        raise HfnetError(f"{index.parent} lacks the shard(s) {missing[:3]} named in {index.name}; re-download them")
    return shards


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The weight files of ``folder`` in reading order: safetensors first (single, then sharded), then ``.bin``.

    Raises:
        HfnetError: the folder has no weights in any form hfnet reads, or a sharded index names a missing shard.
    """
    folder = Path(folder)
    if (folder / SAFETENSORS).is_file():
        return [folder / SAFETENSORS]
    if (folder / SAFETENSORS_INDEX).is_file():
        return _index_shards(folder / SAFETENSORS_INDEX)
    if (folder / BIN).is_file():
        return [folder / BIN]
    if (folder / BIN_INDEX).is_file():
        return _index_shards(folder / BIN_INDEX)
    if (folder / OPEN_CLIP).is_file():
        return [folder / OPEN_CLIP]
    raise HfnetError(
        f"{folder} has a config.json but no weights (model.safetensors, sharded model-*.safetensors with "
        f"{SAFETENSORS_INDEX}, or pytorch_model.bin); save the model with HubClassifier.save_pretrained or copy "
        "the weights there"
    )


def checkpoint_files(folder: str | os.PathLike) -> set[str]:
    """Names of the weight files and index of ``folder`` (what a merge replaces rather than copies)."""
    folder = Path(folder)
    names = {p.name for p in weight_files(folder)}
    return names | {n for n in (SAFETENSORS_INDEX, BIN_INDEX) if (folder / n).is_file()}


class _SafetensorsFile:
    """``keys`` / ``shape`` / ``get_tensor`` over one safetensors file with ``pread``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        try:
            (n,) = struct.unpack("<Q", os.pread(self._fd, 8, 0))
            header = json.loads(os.pread(self._fd, n, 8))
        except Exception as e:  # noqa: BLE001 - any parse failure means a damaged file
            os.close(self._fd)
            raise HfnetError(f"{path} is not a valid safetensors file ({e}); re-save or re-download the model") from e
        self._offset = 8 + n
        header.pop("__metadata__", None)
        self.header: dict[str, dict] = header

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def get_tensor(self, name: str) -> Tensor:
        info = self.header[name]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise HfnetError(f"{self.path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        buf = bytearray(end - start)
        view = memoryview(buf)
        pos = 0
        while pos < len(buf):
            chunk = os.preadv(self._fd, [view[pos:]], self._offset + start + pos)
            if chunk == 0:
                raise HfnetError(f"{self.path} is corrupted or truncated (tensor {name}); re-save or re-download it")
            pos += chunk
        if not buf:
            return torch.empty(info["shape"], dtype=dtype)
        return torch.frombuffer(buf, dtype=dtype).reshape(info["shape"])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _BinFile:
    """A ``pytorch_model.bin`` shard, memory-mapped by ``torch.load`` (its tensors are read on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.state: dict[str, Tensor] | None = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means a damaged or foreign file
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            raise HfnetError(f"{path} is not a readable PyTorch checkpoint ({first}); re-save the model") from e
        self.header = {k: None for k in self.state}

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.state[name].shape)

    def get_tensor(self, name: str) -> Tensor:
        return self.state[name].clone()

    def close(self) -> None:
        self.state = None


class CheckpointReader:
    """``keys()``, ``shape(name)`` and ``get_tensor(name)`` over a model folder's weights, in whatever form they are.

    Only the asked tensor is read (safetensors) or paged in (``.bin``); close it (or use ``with``) when done.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.files = weight_files(self.folder)
        self._parts: list[_SafetensorsFile | _BinFile] = []
        self._where: dict[str, _SafetensorsFile | _BinFile] = {}
        try:
            for path in self.files:
                part = _SafetensorsFile(path) if path.suffix == ".safetensors" else _BinFile(path)
                self._parts.append(part)
                for key in part.header:
                    self._where.setdefault(key, part)
        except BaseException:
            self.close()
            raise

    def keys(self) -> list[str]:
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._where[name].shape(name)

    def get_tensor(self, name: str) -> Tensor:
        return self._where[name].get_tensor(name)

    def items(self) -> Iterator[tuple[str, Tensor]]:
        for key in self.keys():
            yield key, self.get_tensor(key)

    def state_dict(self) -> dict[str, Tensor]:
        """Every tensor (one model in memory)."""
        return dict(self.items())

    def close(self) -> None:
        for part in self._parts:
            part.close()
        self._parts = []

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def verify_checkpoint(folder: str | os.PathLike) -> None:
    """Check that ``folder``'s weights exist and parse (the last tensor of each file is read: truncation shows).

    Raises:
        HfnetError: no weights, a missing shard, or a damaged file (naming it and how to fix it).
    """
    with CheckpointReader(folder) as reader:
        for part in reader._parts:
            keys = list(part.header)
            if keys:
                try:
                    part.get_tensor(keys[-1])
                except HfnetError:
                    raise
                except Exception as e:  # noqa: BLE001 - a header that lies about its data
                    raise HfnetError(
                        f"{part.path} is corrupted or truncated ({str(e).splitlines()[0][:120]}); re-save or "
                        "re-download it"
                    ) from e


def save_state_dict(
    state: Mapping[str, Tensor], folder: str | os.PathLike, *, library: str, max_shard_size: int | str = MAX_SHARD_SIZE
) -> list[str]:
    """Write ``state`` as safetensors the way the library does: timm one ``model.safetensors``, transformers sharded
    above ``max_shard_size`` (transformers' default) with its index; returns the names written."""
    folder = Path(folder)
    before = {p.name for p in folder.iterdir()}
    tensors = {k: v.contiguous() for k, v in state.items()}
    if library == "timm" or not split_torch_state_dict_into_shards(tensors, max_shard_size=max_shard_size).is_sharded:
        save_file(tensors, str(folder / SAFETENSORS), metadata={"format": "pt"})  # timm reads one model.safetensors
    else:
        save_torch_state_dict(tensors, folder, max_shard_size=max_shard_size, metadata={"format": "pt"})
    return sorted({p.name for p in folder.iterdir()} - before)
