"""The Hugging Face Hub side of a checkpoint: resolve a name to a folder or repo, tell timm from transformers, push.

:func:`resolve_model` accepts a Hub id (``google/vit-base-patch16-224``, ``timm/resnet18.a1_in1k``, ``hf-hub:timm/...``)
or a local Hub-format folder and returns its config; :func:`detect_library` tells timm from transformers by it.
:func:`push_to_hub` uploads a saved folder: exactly the files its manifest lists (what hfnet wrote, never the
manifest); a folder hfnet did not write goes whole, hidden entries excepted. Loading a classifier is
:func:`hfnet.classifier.load_classifier`, which builds on this module (this module imports no model code).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

import huggingface_hub
from huggingface_hub import CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from hfnet._io import MANIFEST, atomic_write_text, hfnet_written, manifest_files, record_written
from hfnet.cards import CARD_FILE, ModelCardInfo, render_model_card, set_card_repo_id
from hfnet.checkpoint import verify_checkpoint
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = [
    "Library",
    "detect_library",
    "hub_error",
    "push_result",
    "push_to_hub",
    "resolve_model",
]

Library = Literal["timm", "transformers"]


# ---------------------------------------------------------------------- loading
def hub_error(name: str, exc: BaseException) -> HfnetError:
    """The one line a failed Hub download becomes: gated, missing, offline or unreachable, and what to do."""
    if isinstance(exc, GatedRepoError):
        reason = "the repository is gated: accept its terms on the Hub and log in with `hf auth login`"
    elif isinstance(exc, RepositoryNotFoundError):
        reason = "no such repository (check the id; for a private one log in with `hf auth login`)"
    elif huggingface_hub.constants.HF_HUB_OFFLINE:
        reason = "HF_HUB_OFFLINE=1 and it is not in the local cache"
    else:
        reason = f"the Hub could not be reached ({type(exc).__name__}); check your network"
    return HfnetError(
        f"cannot load '{name}' from the Hugging Face Hub: {reason}. "
        "Pass a local Hub-format folder (config.json + model.safetensors) instead, or download it while online."
    )


def _resolve(name_or_path: str | os.PathLike) -> tuple[Path | None, str | None, dict[str, Any]]:
    """Return (local folder or None, hub repo id or None, parsed config.json)."""
    name = str(name_or_path)
    for prefix in ("hf-hub:", "local-dir:"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    path = Path(name).expanduser()
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1
    if path.exists() or looks_local:
        if not path.exists():
            raise HfnetError(f"no such model folder: {path}")
        if not path.is_dir():
            raise HfnetError(f"{path} is a file; pass the folder that holds config.json and model.safetensors")
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise HfnetError(
                f"{path} has no config.json, so it is not a Hub-format model folder; save models with "
                "`HubClassifier.save_pretrained` (or the library's save_pretrained / timm save_for_hf)"
            )
        try:
            config = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as e:
            raise HfnetError(f"{cfg_file} is not valid JSON ({e}); re-save the model") from e
        verify_checkpoint(path)
        return path.resolve(), None, config
    if not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", name):
        raise HfnetError(f"'{name}' is neither an existing folder nor a valid Hub model id (owner/name)")
    try:
        cfg_file = hf_hub_download(name, "config.json")
    except Exception as e:  # noqa: BLE001 - every Hub failure becomes one clear line
        raise hub_error(name, e) from e
    return None, name, json.loads(Path(cfg_file).read_text())


def resolve_model(name_or_path: str | os.PathLike) -> tuple[Path | None, str | None, dict[str, Any]]:
    """Public form of the resolution step: (local folder or None, Hub repo id or None, parsed config.json)."""
    return _resolve(name_or_path)


def detect_library(config: dict[str, Any]) -> Library:
    """timm configs carry ``architecture``; transformers configs carry ``model_type`` / ``architectures``."""
    if "architecture" in config and "model_type" not in config:
        return "timm"
    if "model_type" in config or "architectures" in config:
        return "transformers"
    raise HfnetError("config.json has neither 'architecture' (timm) nor 'model_type' (transformers)")


# ---------------------------------------------------------------------- push
def _push_files(folder: Path) -> list[Path]:
    """The files of a saved folder that go to the Hub: exactly those its manifest lists (never the manifest).

    A folder hfnet did not write (no manifest) goes whole, but for hidden entries (``.git``, ``.cache``, ...).
    """
    listed = manifest_files(folder)
    if listed is not None:
        return listed
    return [
        f
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    ]


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload with hfnet",
) -> str:
    """Upload a saved folder to the Hub repo ``repo_id`` (created if needed) in one commit; returns the commit URL.

    The card's usage snippet gets the repo id in place of the local folder name (in the uploaded README.md, and
    locally once the push succeeded). A folder without README.md gets a minimal card. When the push fails nothing
    local is changed and the error says why.

    Raises:
        HfnetError: not a saved model folder, or the push failed (one line: the reason and what to do).
    """
    folder = Path(folder).expanduser()
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", repo_id):
        raise HfnetError(f"'{repo_id}' is not a Hub repo id (owner/name); nothing was pushed")
    if not (folder / "config.json").is_file():
        raise HfnetError(f"{folder} is not a saved model folder (no config.json); nothing was pushed")
    verify_checkpoint(folder)
    card_path = folder / CARD_FILE
    files = _push_files(folder)
    if card_path in files or (card_path.is_file() and manifest_files(folder) is None):
        card_text = card_path.read_text(encoding="utf-8")
    else:
        library = detect_library(json.loads((folder / "config.json").read_text()))
        info = ModelCardInfo(
            title=folder.name,
            summary="Pushed with hfnet; no hfnet card was found in the folder, so no results are stated.",
        )
        card_text = render_model_card(info, library=library, folder_name=folder.name)
    card_text = set_card_repo_id(card_text, folder.name, repo_id)
    operations = [
        CommitOperationAdd(path_in_repo=f.relative_to(folder).as_posix(), path_or_fileobj=str(f))
        for f in files
        if f != card_path
    ]
    operations.append(CommitOperationAdd(path_in_repo=CARD_FILE, path_or_fileobj=card_text.encode("utf-8")))
    api = huggingface_hub.HfApi(token=token)  # looked up at call time: tests stand a fake in
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(repo_id, operations, commit_message=commit_message, repo_type="model")
    except Exception as e:  # noqa: BLE001 - report the reason, keep the local result
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise HfnetError(
            f"push of {folder} to {repo_id} failed ({type(e).__name__}: {first}); the local folder is kept as it was. "
            "Log in with `hf auth login` (or pass a token), check the repo id and your network, then retry `hfnet push`."
        ) from e
    # keep the local card the same as the Hub's: hfnet's own card gets the repo id, a missing one is added
    if not card_path.exists() or (
        CARD_FILE in hfnet_written(folder) and card_path.read_text(encoding="utf-8") != card_text
    ):
        atomic_write_text(card_path, card_text)
        if (folder / MANIFEST).is_file():
            record_written(folder, [CARD_FILE])
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")


def push_result(
    folder: str | os.PathLike, *, push: bool, hub_model_id: str | None, private: bool = False
) -> str | None:
    """The push step of a job (``--push-to-hub --hub-model-id ID [--private]``): None when not asked to push.

    Raises:
        HfnetError: asked to push without a repo id, or the push failed (the local result is kept).
    """
    if not push:
        return None
    if not hub_model_id:
        raise HfnetError(
            f"--push-to-hub needs --hub-model-id OWNER/NAME; the result is saved locally in {folder}, "
            f"push it later with `hfnet push {folder} OWNER/NAME`"
        )
    return push_to_hub(folder, hub_model_id, private=private)
