"""Resolve, load, save and push Hub-format image classifiers (timm and transformers).

:func:`load_classifier` accepts a Hub id (``google/vit-base-patch16-224``, ``timm/resnet18.a1_in1k``,
``hf-hub:timm/...``) or a local Hub-format folder, tells timm from transformers by its ``config.json`` and returns a
:class:`~hfnet.classifier.HubClassifier` in eval mode, with the repo's own image processor. :func:`push_to_hub` uploads
a saved folder. The classifier adapter, cards and preprocessing live in :mod:`hfnet.classifier`, :mod:`hfnet.cards`
and :mod:`hfnet.preprocessing`; their public names are importable from here as well.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from hfnet._io import MANIFEST, atomic_write_text, hfnet_written, manifest_files, record_written
from hfnet.cards import (
    CARD_FILE,
    ModelCardInfo,
    _template_dir,  # noqa: F401 - importable from here as before the split
    render_model_card,
    set_card_repo_id,
    source_license,
)
from hfnet.checkpoint import verify_checkpoint
from hfnet.classifier import (
    HubClassifier,
    Library,
    _set_transformers_labels,  # noqa: F401 - importable from here as before the split
    _timm_class_names,
    _timm_preprocessing,
    _transformers_class_names,
)
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing, load_transformers_preprocessing

logger = logging.getLogger(__name__)

__all__ = [
    "HubClassifier",
    "Library",
    "ModelCardInfo",
    "Preprocessing",
    "detect_library",
    "hub_error",
    "load_classifier",
    "push_to_hub",
    "render_model_card",
    "resolve_model",
]


# ---------------------------------------------------------------------- loading
def hub_error(name: str, exc: BaseException) -> HfnetError:
    """The one line a failed Hub download becomes: gated, missing, offline or unreachable, and what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if isinstance(exc, GatedRepoError):
        reason = "the repository is gated: accept its terms on the Hub and log in with `hf auth login`"
    elif isinstance(exc, RepositoryNotFoundError):
        reason = "no such repository (check the id; for a private one log in with `hf auth login`)"
    elif constants.HF_HUB_OFFLINE:
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
    from huggingface_hub import hf_hub_download

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


def load_classifier(name_or_path: str | os.PathLike) -> HubClassifier:
    """Load an image classifier from a Hub id or a local Hub-format folder.

    Args:
        name_or_path: ``google/vit-base-patch16-224``, ``timm/resnet18.a1_in1k``, ``hf-hub:timm/...`` or a folder
            with ``config.json`` and ``model.safetensors`` (as written by :meth:`HubClassifier.save_pretrained`).

    Returns:
        A :class:`HubClassifier` in eval mode whose preprocessing is the repo's own image processor (transformers)
        or timm's data config (timm). ``hub_id`` is set only when it came from the Hub.

    Raises:
        HfnetError: the folder is not a model, its weights are damaged, or the Hub id cannot be reached.
    """
    folder, repo_id, config = _resolve(name_or_path)
    library = detect_library(config)
    source = str(name_or_path)
    try:
        license = source_license(folder, repo_id)
        if library == "timm":
            import timm

            ref = f"local-dir:{folder}" if folder is not None else f"hf-hub:{repo_id}"
            model = timm.create_model(ref, pretrained=True)
            clf = HubClassifier(
                model,
                "timm",
                class_names=_timm_class_names(model),
                preprocessing=_timm_preprocessing(model),
                source=source,
                hub_id=repo_id,
                license=license,
            )
        else:
            from transformers import AutoModelForImageClassification

            model = AutoModelForImageClassification.from_pretrained(str(folder) if folder else repo_id)
            clf = HubClassifier(
                model,
                "transformers",
                class_names=_transformers_class_names(model.config),
                preprocessing=load_transformers_preprocessing(str(folder) if folder else repo_id, model.config),
                source=source,
                hub_id=repo_id,
                license=license,
            )
        # like from_pretrained: the wrapper and every submodule in eval mode
        return clf.eval()
    except HfnetError:
        raise
    except Exception as e:  # noqa: BLE001
        if repo_id is not None and type(e).__module__.startswith(("huggingface_hub", "requests", "httpx")):
            raise hub_error(repo_id, e) from e
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise HfnetError(f"cannot build the {library} model from {name_or_path}: {type(e).__name__}: {first}") from e


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
    from huggingface_hub import CommitOperationAdd, HfApi

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
    api = HfApi(token=token)
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
