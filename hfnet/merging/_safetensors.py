"""Read safetensors files one tensor at a time with ``pread``, without memory-mapping the file.

``safetensors.safe_open`` memory-maps the whole file; every tensor read leaves its pages mapped (and counted in the
process's resident memory) until the handle closes, so a merge holding N handles open would map N models. Reading
each tensor's bytes into its own buffer keeps the process at "output + one tensor per parent".
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch
from torch import Tensor

from hfnet.errors import HfnetError

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


class SafetensorsReader:
    """``keys()``, ``shape(name)`` and ``get_tensor(name)`` over a safetensors file, reading only what is asked."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        try:
            (n,) = struct.unpack("<Q", os.pread(self._fd, 8, 0))
            header = json.loads(os.pread(self._fd, n, 8))
        except Exception as e:  # noqa: BLE001 - any parse failure means a damaged file
            os.close(self._fd)
            raise HfnetError(f"{self.path} is not a valid safetensors file ({e}); re-save the model") from e
        self._offset = 8 + n
        header.pop("__metadata__", None)
        self._header = header

    def keys(self) -> list[str]:
        return list(self._header)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._header[name]["shape"])

    def get_tensor(self, name: str) -> Tensor:
        info = self._header[name]
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
                raise HfnetError(f"{self.path} is truncated (tensor {name}); re-save or re-download it")
            pos += chunk
        if not buf:
            return torch.empty(info["shape"], dtype=dtype)
        return torch.frombuffer(buf, dtype=dtype).reshape(info["shape"])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SafetensorsReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
