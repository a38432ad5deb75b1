"""Writing results without ever losing a user's files.

The rule (the same for the Python API, the CLI and the recipes):

- A result folder is built in a temporary folder and moved into place at the end: a failure half-way leaves the
  previous result and the user's files exactly as they were.
- hfnet records the names it wrote in a small manifest, ``.hfnet-manifest.json``, in every folder it writes. That
  manifest is how it knows which files are its own; it never deletes or replaces a file it did not write unless told
  to with ``overwrite=True`` (``--overwrite``), and even then only the files of the new result are replaced.
- Writing into an existing folder that holds anything hfnet did not write is refused with one line that names the
  folder and the way out (``--overwrite`` or another folder). An empty folder, or one holding only an earlier hfnet
  result, is written into without ``--overwrite`` (the earlier hfnet files are replaced, nothing else is touched).
- An existing folder is never renamed or removed, only written into; the home directory and a filesystem root are
  refused whatever the flags.
- Files and folders follow the umask (``tempfile`` alone would leave them 0600 / 0700).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from hfnet import __version__
from hfnet.errors import HfnetError

__all__ = [
    "MANIFEST",
    "atomic_dir",
    "atomic_write_text",
    "check_output_dir",
    "hfnet_written",
    "manifest_files",
    "prepare_output_dir",
    "record_written",
]

MANIFEST = ".hfnet-manifest.json"
_TMP_PREFIX = ".hfnet-tmp-"
_OLD_PREFIX = ".hfnet-old-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fix_mode(path: Path, *, directory: bool) -> None:
    """Give a tempfile-created path the mode a plain ``open`` / ``mkdir`` would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _mkdtemp(prefix: str, parent: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _fix_mode(tmp, directory=True)
    return tmp


def _how_out(path: Path) -> str:
    return f"pass --overwrite (overwrite=True) to replace only the files hfnet writes, or choose another folder than {path}"


def _read_manifest(folder: Path) -> set[str]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        return {str(n) for n in data.get("files", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def _write_manifest(folder: Path, names: Iterable[str]) -> None:

    names = sorted({n for n in names if n != MANIFEST})
    atomic_write_text(folder / MANIFEST, json.dumps({"written_by": f"hfnet {__version__}", "files": names}, indent=1))


def hfnet_written(folder: str | os.PathLike) -> set[str]:
    """The entries of ``folder`` that hfnet wrote: listed in its manifest, or hfnet's own temporary leftovers."""
    folder = Path(folder)
    listed = _read_manifest(folder) | {MANIFEST}
    out = set()
    for entry in folder.iterdir():
        if entry.name in listed or entry.name.startswith((_TMP_PREFIX, _OLD_PREFIX)):
            out.add(entry.name)
    return out


def manifest_files(folder: str | os.PathLike) -> list[Path] | None:
    """The files hfnet wrote into ``folder`` by its manifest (listed folders expanded), never the manifest itself.

    ``None`` when ``folder`` has no manifest (a folder hfnet did not write).
    """
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return None
    out: list[Path] = []
    for name in sorted(_read_manifest(folder) - {MANIFEST}):
        entry = folder / name
        if entry.is_symlink() or "/" in name or name in ("", ".", ".."):
            continue
        if entry.is_file():
            out.append(entry)
        elif entry.is_dir():
            out.extend(f for f in sorted(entry.rglob("*")) if f.is_file() and not f.is_symlink())
    return out


def _all_ours(folder: Path, depth: int) -> bool:
    """A folder of hfnet results (``zoo/`` of saved models): non-empty and nothing in it foreign, a few levels down."""
    if depth <= 0 or folder.is_symlink() or not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    return bool(entries) and not _foreign(folder, depth - 1)


def _foreign(folder: Path, depth: int = 3) -> list[str]:
    """Entries of an existing folder that hfnet did not write (sorted).

    Listed in the folder's manifest, or a sub-folder holding only hfnet results (each with its own manifest), counts
    as hfnet's.
    """
    ours = hfnet_written(folder)
    return sorted(e.name for e in folder.iterdir() if e.name not in ours and not _all_ours(e, depth))


def _protected(path: Path) -> str | None:
    if path == Path(path.anchor):
        return "a filesystem root"
    home = Path(os.path.expanduser("~")).resolve()
    if path == home:
        return "your home directory"
    return None


def check_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Apply the output-folder rule to ``path`` without writing anything; returns the resolved path.

    Raises:
        HfnetError: ``path`` is a file, the home directory or a filesystem root, or an existing folder holding
            files hfnet did not write while ``overwrite`` is False.
    """
    path = Path(path).expanduser().resolve()
    where = _protected(path)
    if where is not None:
        raise HfnetError(f"refusing to write results into {path}, {where}; choose a new folder for the output")
    if path.exists() and not path.is_dir():
        raise HfnetError(f"output path {path} exists and is a file, not a folder; choose another folder")
    if path.is_dir() and not overwrite:
        foreign = _foreign(path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise HfnetError(
                f"output folder {path} already holds files hfnet did not write ({shown}); {_how_out(path)}"
            )
    return path


def prepare_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """:func:`check_output_dir`, then create the folder (for jobs that write several results into one folder)."""
    path = check_output_dir(path, overwrite=overwrite)
    path.mkdir(parents=True, exist_ok=True)
    if not (path / MANIFEST).is_file():
        _write_manifest(path, [])
    return path


def record_written(folder: str | os.PathLike, names: Iterable[str]) -> None:
    """Add ``names`` (entries of ``folder``) to the folder's manifest of hfnet-written files."""
    folder = Path(folder)
    _write_manifest(folder, _read_manifest(folder) | {str(n) for n in names})


def _move_in(tmp: Path, path: Path) -> None:
    """Move every entry of ``tmp`` into the existing folder ``path``; hfnet's earlier files go, the user's stay.

    Earlier hfnet files (and any file the new result replaces) are first moved into a backup folder inside ``path``;
    if a move fails, everything is put back before the error propagates.
    """
    new = [e.name for e in tmp.iterdir() if e.name != MANIFEST]
    for name in new:
        target = path / name
        if target.is_dir() and not target.is_symlink() and not (tmp / name).is_dir():
            raise HfnetError(f"{target} is a folder but the result has a file of that name; {_how_out(path)}")
    old_ours = _read_manifest(path)
    backup = _mkdtemp(_OLD_PREFIX, path)
    displaced: list[str] = []
    placed: list[str] = []
    try:
        for name in sorted(old_ours | set(new)):
            if (path / name).exists() or (path / name).is_symlink():
                os.replace(path / name, backup / name)
                displaced.append(name)
        for name in new:
            os.replace(tmp / name, path / name)
            placed.append(name)
        _write_manifest(path, new)
    except BaseException:
        for name in placed:
            with contextlib.suppress(OSError):
                os.replace(path / name, tmp / name)
        for name in displaced:
            with contextlib.suppress(OSError):
                os.replace(backup / name, path / name)
        shutil.rmtree(backup, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; when the block succeeds its contents become the result at ``path``.

    - ``path`` does not exist: the temporary sibling folder is renamed to ``path`` (one atomic step).
    - ``path`` exists: it must hold only hfnet's earlier files, unless ``overwrite``; the new files are moved in,
      hfnet's earlier files are removed, every other entry stays. The folder itself is never renamed or removed.
    - The block raises: the temporary folder is deleted, ``path`` is untouched.

    The names written are recorded in ``path/.hfnet-manifest.json``.

    Raises:
        HfnetError: see :func:`check_output_dir`.
    """
    path = check_output_dir(path, overwrite=overwrite)
    existed = path.is_dir()
    if existed:
        tmp = _mkdtemp(_TMP_PREFIX, path)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _mkdtemp(f"{_TMP_PREFIX}{path.name}-", path.parent)
    try:
        yield tmp
        # libraries write through tempfile too (transformers' safetensors are 0600): give everything umask modes
        for entry in tmp.rglob("*"):
            if not entry.is_symlink():
                _fix_mode(entry, directory=entry.is_dir())
        if existed:
            _move_in(tmp, path)
        else:
            _write_manifest(tmp, [e.name for e in tmp.iterdir()])
            tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file renamed at the end (mode follows the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        _fix_mode(Path(tmp), directory=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
