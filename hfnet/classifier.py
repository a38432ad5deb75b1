"""``HubClassifier``: one interface over timm and transformers image classifiers.

It exposes what every hfnet method needs (logits, penultimate features, per-block modules, class names,
preprocessing, head replacement), saves back to plain Hub format (what hfnet writes loads with
``AutoModelForImageClassification.from_pretrained``, ``pipeline("image-classification")`` or
``timm.create_model("local-dir:...", pretrained=True)``) and loads / pushes like the rest of the ecosystem
(:meth:`HubClassifier.from_pretrained`, :meth:`HubClassifier.push_to_hub`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import ImageNetInfo, infer_imagenet_subset, resolve_data_config
from timm.models._hub import get_model_input_config, save_for_hf
from torch import Tensor, nn
from transformers import AutoModelForImageClassification
from transformers.modeling_outputs import ImageClassifierOutput

from hfnet._io import atomic_dir, atomic_write_text
from hfnet.cards import CARD_FILE, ModelCardInfo, render_model_card, source_license
from hfnet.errors import HfnetError
from hfnet.hub import Library, detect_library, hub_error, push_to_hub, resolve_model
from hfnet.preprocessing import (
    Preprocessing,
    attach_processor,
    derive_image_processor,
    from_image_processor,
    from_timm_config,
    load_transformers_preprocessing,
    save_image_processor,
    timm_data_config,
)

logger = logging.getLogger(__name__)

__all__ = ["HubClassifier", "class_names_from_config", "load_classifier", "write_card"]

_PLACEHOLDER_LABEL = re.compile(r"^(LABEL_|label_)\d+$")
_BLOCK_CONTAINERS = (
    "vit.layers",  # transformers 5 ViT / DINO
    "vit.encoder.layer",  # transformers 4 ViT
    "dinov2.encoder.layer",
    "deit.encoder.layer",
    "resnet.encoder.stages",
    "convnext.encoder.stages",
    "blocks",  # timm ViT, EfficientNet, ...
    "stages",  # timm ConvNeXt, ByobNet, ...
)


def _placeholder(names: list[str]) -> bool:
    return all(_PLACEHOLDER_LABEL.match(str(n)) for n in names)


def _find_head(model: nn.Module, num_classes: int, preferred: str | None = None) -> str:
    """Name of the final classifier Linear: ``preferred`` if it is one, else the last Linear with num_classes outputs."""
    modules = dict(model.named_modules())
    if preferred and isinstance(modules.get(preferred), nn.Linear):
        return preferred
    if preferred and isinstance(modules.get(preferred), nn.Module):
        inner = [n for n, m in modules[preferred].named_modules() if isinstance(m, nn.Linear)]
        if inner:
            return f"{preferred}.{inner[-1]}"
    candidates = [n for n, m in modules.items() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not candidates:
        raise HfnetError(
            f"cannot find the classifier head of {type(model).__name__}: no nn.Linear with {num_classes} outputs"
        )
    return candidates[-1]


class HubClassifier(nn.Module):
    """An image classifier from timm or transformers with one interface for all hfnet methods.

    ``forward(pixel_values, labels=None)`` returns an ``ImageClassifierOutput`` (loss when labels are given), so a
    plain HF ``Trainer`` trains it. The wrapped library model is ``.model``; its ``state_dict`` names are the names
    that masks and merges use, and what :meth:`save_pretrained` writes.
    """

    def __init__(
        self,
        model: nn.Module,
        library: Library,
        *,
        class_names: list[str] | None = None,
        preprocessing: Preprocessing | None = None,
        source: str | None = None,
        hub_id: str | None = None,
        license: str | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.library: Library = library
        self.source = source
        # the Hub repo this model was loaded from (None for local folders and in-memory models): the card's base_model
        self.hub_id = hub_id
        self.license = license
        self._preprocessing: Preprocessing | None = None
        self.preprocessing = preprocessing or Preprocessing()
        preferred = None
        if library == "timm":
            preferred = getattr(model, "pretrained_cfg", {}).get("classifier")
        elif hasattr(model, "classifier"):
            preferred = "classifier"
        self.head_name = _find_head(model, self.num_classes, preferred)
        self.class_names = class_names
        self.config = getattr(model, "config", None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        class_names: list[str] | None = None,
        source: str | None = None,
        preprocessing: Preprocessing | None = None,
    ) -> HubClassifier:
        """Wrap an in-memory timm model or transformers ``*ForImageClassification`` model."""
        if hasattr(model, "pretrained_cfg") and hasattr(model, "reset_classifier"):
            library: Library = "timm"
            preprocessing = preprocessing or _timm_preprocessing(model)
            if class_names is None:
                class_names = _timm_class_names(model)
        elif hasattr(model, "config") and hasattr(model.config, "id2label"):
            library = "transformers"
            preprocessing = preprocessing or _transformers_default_preprocessing(model.config)
            if class_names is None:
                class_names = _transformers_class_names(model.config)
            else:
                _set_transformers_labels(model.config, class_names)
        else:
            raise HfnetError(
                f"{type(model).__name__} is neither a timm model nor a transformers image classifier; "
                "build it with timm.create_model or AutoModelForImageClassification"
            )
        return cls(model, library, class_names=class_names, preprocessing=preprocessing, source=source)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> HubClassifier:
        """Load from a Hub id or a local Hub-format folder, in eval mode (:func:`load_classifier`)."""
        return load_classifier(name_or_path)

    # ------------------------------------------------------------------ properties
    @property
    def preprocessing(self) -> Preprocessing:
        """What makes this model's pixels; setting it keeps a processor that computes exactly those pixels."""
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, pre: Preprocessing) -> None:
        channels = self.input_channels
        if pre.channels != channels:  # the model's own input channels win over a processor's RGB default
            grey_or_rgb = dataclasses.replace(pre, channels=channels, processor=None)
            if self.library == "transformers" and pre.processor is not None and not isinstance(pre.processor, dict):
                pre = from_image_processor(derive_image_processor(pre.processor, grey_or_rgb), channels)
            else:
                pre = grey_or_rgb
        self._preprocessing = attach_processor(pre, self.library, previous=self._preprocessing)

    @property
    def input_channels(self) -> int:
        """The image channels the model reads: 1 (grey) or 3 (RGB), from its config (``num_channels``, ``in_chans``)."""
        if self.library == "timm":
            return int(get_model_input_config(self.model)["input_size"][0])
        return int(getattr(self.model.config, "num_channels", None) or 3)

    @property
    def num_classes(self) -> int:
        if hasattr(self.model, "num_classes"):
            return int(self.model.num_classes)
        return int(self.model.config.num_labels)

    @property
    def class_names(self) -> list[str] | None:
        return self._class_names

    @class_names.setter
    def class_names(self, names: list[str] | None) -> None:
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != self.num_classes:
                raise HfnetError(f"{len(names)} class names given for a head with {self.num_classes} outputs")
            if _placeholder(names):
                names = None
        self._class_names = names
        if names is not None and self.library == "transformers":
            _set_transformers_labels(self.model.config, names)

    @property
    def head(self) -> nn.Linear:
        return self.model.get_submodule(self.head_name)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ forward
    def _logits(self, pixel_values: Tensor) -> Tensor:
        if self.library == "timm":
            return self.model(pixel_values)
        return self.model(pixel_values=pixel_values).logits

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None, **_: Any):
        logits = self._logits(pixel_values)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)

    def logits(self, pixel_values: Tensor) -> Tensor:
        """Class logits for a batch of preprocessed pixels ``[B, 3, H, W]``."""
        return self._logits(pixel_values)

    def logits_and_features(self, pixel_values: Tensor) -> tuple[Tensor, Tensor]:
        """Logits and penultimate features (the head's input, flattened to ``[B, D]``) from one forward pass."""
        captured: list[Tensor] = []
        handle = self.head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            logits = self._logits(pixel_values)
        finally:
            handle.remove()
        return logits, captured[-1].flatten(1)

    def features(self, pixel_values: Tensor) -> Tensor:
        """Penultimate features ``[B, D]``: what the classifier head reads."""
        return self.logits_and_features(pixel_values)[1]

    def blocks(self) -> list[tuple[str, nn.Module]]:
        """The per-block modules (transformer blocks, ResNet stages...), named as inside ``.model``."""
        modules = dict(self.model.named_modules())
        for name in _BLOCK_CONTAINERS:
            container = modules.get(name)
            if isinstance(container, nn.ModuleList | nn.Sequential) and len(container) > 0:
                return [(f"{name}.{i}", m) for i, m in enumerate(container)]
        if self.library == "timm" and all(f"layer{i}" in modules for i in (1, 2, 3, 4)):
            return [(f"layer{i}", modules[f"layer{i}"]) for i in (1, 2, 3, 4)]
        lists = [(n, m) for n, m in modules.items() if isinstance(m, nn.ModuleList) and len(m) > 1]
        if not lists:
            raise HfnetError(f"cannot find the blocks of {type(self.model).__name__}")
        name, container = max(lists, key=lambda item: len(item[1]))
        return [(f"{name}.{i}", m) for i, m in enumerate(container)]

    # ------------------------------------------------------------------ head
    def replace_head(self, class_names: list[str]) -> None:
        """Replace the classifier with a new, randomly initialised one for ``class_names``."""
        class_names = [str(c) for c in class_names]
        if len(class_names) < 1:
            raise HfnetError("replace_head needs at least one class name")
        n = len(class_names)
        old = self.head
        device, dtype = old.weight.device, old.weight.dtype
        if self.library == "timm":
            self.model.reset_classifier(n)
            cfg = dict(self.model.pretrained_cfg)
            cfg.update(num_classes=n, label_names=class_names)
            cfg.pop("label_descriptions", None)
            self.model.pretrained_cfg = cfg
            self.head_name = _find_head(self.model, n, cfg.get("classifier"))
        else:
            new = nn.Linear(old.in_features, n, bias=old.bias is not None)
            self.model.set_submodule(self.head_name, new)
            self.model.config.num_labels = n
            _set_transformers_labels(self.model.config, class_names)
            if hasattr(self.model, "num_labels"):
                self.model.num_labels = n
        head = self.head.to(device=device, dtype=dtype)
        nn.init.normal_(head.weight, std=0.01)
        if head.bias is not None:
            nn.init.zeros_(head.bias)
        self._class_names = None
        self.class_names = class_names

    # ------------------------------------------------------------------ saving
    def save_pretrained(
        self, save_directory: str | os.PathLike, card: ModelCardInfo | None = None, *, overwrite: bool = False
    ) -> Path:
        """Write Hub format atomically: weights, config (class names kept), the model's processor, README.md card.

        transformers: ``model.save_pretrained`` + the source's image processor (``processor.save_pretrained``).
        timm: ``save_for_hf`` with the data config. Plots named in ``card.plots`` are copied in and embedded.

        Args:
            save_directory: the folder to write; see :mod:`hfnet._io` for the rule on existing folders.
            card: what the model card says (none: no README.md).
            overwrite: write into a folder holding other files, replacing only the files hfnet writes.

        Raises:
            HfnetError: ``save_directory`` holds files hfnet did not write and ``overwrite`` is False, or it is the
                home directory or a filesystem root.
        """
        target = Path(save_directory).expanduser().resolve()
        with atomic_dir(target, overwrite=overwrite) as tmp:
            if self.library == "transformers":
                self.model.save_pretrained(tmp, safe_serialization=True)
                save_image_processor(self.preprocessing, tmp)
            else:
                model_config: dict[str, Any] = {}
                if self.class_names is not None:
                    model_config["label_names"] = list(self.class_names)
                data_config = timm_data_config(self.preprocessing)
                save_for_hf(
                    self.model, str(tmp), model_config=model_config, safe_serialization=True, data_config=data_config
                )
                _drop_timm_num_classes_arg(tmp / "config.json")
            if card is not None:
                write_card(tmp, card, library=self.library, folder_name=target.name, license=self.license)
        return target

    def push_to_hub(
        self,
        repo_id: str,
        card: ModelCardInfo | None = None,
        *,
        private: bool = False,
        token: str | None = None,
        commit_message: str = "Upload with hfnet",
    ) -> str:
        """Save to a temporary folder and upload it to the Hub repo ``repo_id``; returns the commit URL.

        Raises:
            HfnetError: the upload failed (one line saying why); nothing local is changed.
        """
        name = repo_id.split("/")[-1]
        with tempfile.TemporaryDirectory(prefix="hfnet-push-") as tmp:
            folder = self.save_pretrained(Path(tmp) / name, card=card)
            return push_to_hub(folder, repo_id, private=private, token=token, commit_message=commit_message)


def write_card(
    folder: Path, card: ModelCardInfo, *, library: str, folder_name: str, license: str | None = None
) -> None:
    """Render ``card`` into ``folder/README.md``, copying its plots into the folder (cards embed them by name)."""
    plots = []
    for plot in card.plots:
        plot_path = Path(plot).expanduser()
        if plot_path.is_file() and plot_path.resolve().parent != folder.resolve():
            shutil.copyfile(plot_path, folder / plot_path.name)
        plots.append(plot_path.name)
    info = ModelCardInfo(**{**card.__dict__, "plots": plots, "license": card.license or license})
    atomic_write_text(folder / CARD_FILE, render_model_card(info, library=library, folder_name=folder_name))


# ---------------------------------------------------------------------- loading
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
    folder, repo_id, config = resolve_model(name_or_path)
    library = detect_library(config)
    source = str(name_or_path)
    try:
        license = source_license(folder, repo_id)
        if library == "timm":
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


# ---------------------------------------------------------------------- helpers per library
def _drop_timm_num_classes_arg(config_file: Path) -> None:
    """Keep ``num_classes`` out of a timm config's ``model_args``: timm reads it from the root ``num_classes``, and
    transformers' ``TimmWrapperForImageClassification`` passes ``num_classes`` itself (twice, were it there too)."""
    config = json.loads(config_file.read_text())
    args = config.get("model_args")
    if isinstance(args, dict) and "num_classes" in args:
        args.pop("num_classes")
        if not args:
            config.pop("model_args")
        config_file.write_text(json.dumps(config, indent=2))


def _set_transformers_labels(config: Any, class_names: list[str]) -> None:
    config.id2label = {i: str(n) for i, n in enumerate(class_names)}
    config.label2id = {str(n): i for i, n in enumerate(class_names)}


def class_names_from_config(config: dict[str, Any], library: str) -> list[str] | None:
    """The class names a saved ``config.json`` (parsed) states: transformers ``id2label``, timm ``label_names``.

    None when it states none, or only placeholders (``LABEL_0``, ...).
    """
    if library == "timm":
        names = config.get("label_names") or (config.get("pretrained_cfg") or {}).get("label_names")
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names, key=int)]
    else:
        id2label = config.get("id2label") or {}
        names = [id2label[k] for k in sorted(id2label, key=int)]
    if not names:
        return None
    names = [str(n) for n in names]
    return None if _placeholder(names) else names


def _transformers_class_names(config: Any) -> list[str] | None:
    id2label = getattr(config, "id2label", None) or {}
    if not id2label:
        return None
    names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    return None if _placeholder(names) else names


def _timm_class_names(model: nn.Module) -> list[str] | None:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    names = cfg.get("label_names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names, key=int)]
    if names and len(names) == model.num_classes and not _placeholder(list(names)):
        descriptions = cfg.get("label_descriptions") or {}
        return [str(descriptions.get(n, n)) for n in names]
    if model.num_classes in (1000, 11821, 21841, 21843):
        try:
            subset = infer_imagenet_subset(model) or ("imagenet-1k" if model.num_classes == 1000 else None)
            if subset:
                return list(ImageNetInfo(subset).label_descriptions(as_dict=False))
        except Exception:  # noqa: BLE001 - names are optional metadata
            logger.debug("no bundled ImageNet names for %s", type(model).__name__)
    return None


def _transformers_default_preprocessing(config: Any) -> Preprocessing:
    """An in-memory transformers model without a processor: resize to its config's image size, ImageNet mean/std."""
    size = getattr(config, "image_size", None) or 224
    size = (size, size) if isinstance(size, int) else tuple(size)
    return Preprocessing(
        image_size=(int(size[0]), int(size[1])), channels=int(getattr(config, "num_channels", 3) or 3)
    )


def _timm_preprocessing(model: nn.Module) -> Preprocessing:
    """timm's own data config of the model (``resolve_data_config``), made into pixels by ``create_transform``.

    The input size is the model's current one (a ViT built at another ``img_size`` than its pretrained config).
    """
    cfg = dict(resolve_data_config({}, model=model))
    cfg["input_size"] = tuple(get_model_input_config(model)["input_size"])
    return from_timm_config(cfg)
