"""Atomic writes: results appear complete or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``path``; on success it replaces ``path``, on error it is deleted.

    An existing folder at ``path`` is only removed once the new one is complete, so a failure never leaves a
    half-written result or destroys the previous one.
    """
    path = Path(path).expanduser().resolve()
    if path.exists() and not path.is_dir():
        from hfnet.errors import HfnetError

        raise HfnetError(f"output path {path} exists and is not a folder: choose another --output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = None
    if path.exists():
        backup = path.parent / f".{path.name}.old-{os.getpid()}"
        shutil.rmtree(backup, ignore_errors=True)
        path.rename(backup)
    tmp.rename(path)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed at the end."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
