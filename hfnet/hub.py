"""Load, save and push Hub-format image classifiers (timm and transformers) behind one interface.

:func:`load_classifier` accepts a Hub id (``google/vit-base-patch16-224``, ``timm/resnet18.a1_in1k``,
``hf-hub:timm/...``) or a local Hub-format folder, and tells timm from transformers by its ``config.json``.
:class:`HubClassifier` exposes what every hfnet method needs (logits, penultimate features, per-block modules,
class names, preprocessing, head replacement) and saves back to plain Hub format, so what hfnet writes loads with
``AutoModelForImageClassification.from_pretrained`` or ``timm.create_model("local-dir:...", pretrained=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hfnet._io import atomic_dir, atomic_write_text
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

Library = Literal["timm", "transformers"]

_PLACEHOLDER_LABEL = re.compile(r"^(LABEL_|label_)\d+$")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")
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


@dataclass
class Preprocessing:
    """The input a classifier expects: RGB images resized to ``image_size`` and normalised with ``mean``/``std``."""

    image_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    crop_pct: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelCardInfo:
    """What a model card says: rendered into README.md by :meth:`HubClassifier.save_pretrained`.

    Args:
        title: the card's heading.
        summary: markdown, what was done to produce this checkpoint.
        base_model: the Hub id(s) or path(s) this checkpoint derives from.
        datasets: datasets used for training / calibration / evaluation.
        metrics: measured results, name -> value (for example ``{"accuracy": 0.93}``).
        tags: extra Hub tags (``hfnet`` and the library are always added).
        details: further markdown (settings tables, plots).
    """

    title: str
    summary: str
    base_model: str | list[str] | None = None
    datasets: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    details: str = ""


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
    ) -> None:
        super().__init__()
        self.model = model
        self.library: Library = library
        self.source = source
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
            preprocessing = preprocessing or _transformers_preprocessing(model.config, None)
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

    # ------------------------------------------------------------------ properties
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
        from transformers.modeling_outputs import ImageClassifierOutput

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
    def save_pretrained(self, save_directory: str | os.PathLike, card: ModelCardInfo | None = None) -> Path:
        """Write Hub format (config.json + model.safetensors, class names kept, README.md card) atomically."""
        with atomic_dir(save_directory) as tmp:
            state_owner = self.model
            if self.library == "transformers":
                state_owner.save_pretrained(tmp, safe_serialization=True)
                _write_image_processor(tmp, self.preprocessing)
            else:
                from timm.models._hub import save_for_hf

                model_config: dict[str, Any] = {}
                if self.class_names is not None:
                    model_config["label_names"] = list(self.class_names)
                pre = self.preprocessing
                data_config = {
                    "input_size": (3, *pre.image_size),
                    "mean": tuple(pre.mean),
                    "std": tuple(pre.std),
                    "interpolation": pre.interpolation,
                    "crop_pct": pre.crop_pct,
                }
                save_for_hf(
                    state_owner, str(tmp), model_config=model_config, safe_serialization=True, data_config=data_config
                )
            if card is not None:
                atomic_write_text(tmp / "README.md", render_model_card(card, library=self.library))
        return Path(save_directory).expanduser().resolve()


# ---------------------------------------------------------------------- helpers per library
def _set_transformers_labels(config: Any, class_names: list[str]) -> None:
    config.id2label = {i: str(n) for i, n in enumerate(class_names)}
    config.label2id = {str(n): i for i, n in enumerate(class_names)}


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
            from timm.data import ImageNetInfo, infer_imagenet_subset

            subset = infer_imagenet_subset(model) or ("imagenet-1k" if model.num_classes == 1000 else None)
            if subset:
                return list(ImageNetInfo(subset).label_descriptions(as_dict=False))
        except Exception:  # noqa: BLE001 - names are optional metadata
            logger.debug("no bundled ImageNet names for %s", type(model).__name__)
    return None


def _timm_preprocessing(model: nn.Module) -> Preprocessing:
    from timm.data import resolve_model_data_config
    from timm.models._hub import get_model_input_config

    cfg = resolve_model_data_config(model)
    size = get_model_input_config(model)["input_size"][1:]
    return Preprocessing(
        image_size=(int(size[0]), int(size[1])),
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
        interpolation=str(cfg.get("interpolation", "bicubic")),
        crop_pct=float(cfg.get("crop_pct", 1.0)),
    )


_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
_PIL_CODE = {v: k for k, v in _PIL_RESAMPLE.items()}


def _transformers_preprocessing(config: Any, folder: Path | None) -> Preprocessing:
    proc: dict[str, Any] = {}
    if folder is not None and (folder / "preprocessor_config.json").is_file():
        proc = json.loads((folder / "preprocessor_config.json").read_text())
    size = proc.get("size") or getattr(config, "image_size", 224)
    if isinstance(size, dict):
        if "height" in size:
            size = (size["height"], size["width"])
        else:
            edge = size.get("shortest_edge", 224)
            size = (edge, edge)
    elif isinstance(size, int):
        size = (size, size)
    crop = proc.get("crop_size")
    if proc.get("do_center_crop") and isinstance(crop, dict) and "height" in crop:
        size = (crop["height"], crop["width"])
    default_mean, default_std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    if getattr(config, "model_type", "") not in ("vit", "deit", "dinov2"):
        default_mean, default_std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return Preprocessing(
        image_size=(int(size[0]), int(size[1])),
        mean=tuple(float(v) for v in proc.get("image_mean", default_mean)),
        std=tuple(float(v) for v in proc.get("image_std", default_std)),
        interpolation=_PIL_RESAMPLE.get(int(proc.get("resample", 2)), "bilinear"),
        crop_pct=float(proc.get("crop_pct") or 1.0),
    )


def _write_image_processor(folder: Path, pre: Preprocessing) -> None:
    """A ViTImageProcessor config (resize + normalise): what ``pipeline('image-classification')`` needs."""
    config = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": pre.image_size[0], "width": pre.image_size[1]},
        "resample": _PIL_CODE.get(pre.interpolation, 2),
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(pre.mean),
        "image_std": list(pre.std),
        "do_convert_rgb": True,
    }
    atomic_write_text(folder / "preprocessor_config.json", json.dumps(config, indent=2))


# ---------------------------------------------------------------------- loading
def _hub_error(name: str, exc: BaseException) -> HfnetError:
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


def _check_weights(folder: Path) -> None:
    weights = [folder / f for f in _WEIGHT_FILES if (folder / f).is_file()]
    if not weights:
        raise HfnetError(
            f"{folder} has a config.json but no weights (model.safetensors or pytorch_model.bin); "
            "save the model with HubClassifier.save_pretrained or copy the weights there"
        )
    if weights[0].suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(weights[0]), framework="pt") as f:
                keys = list(f.keys())
                if keys:
                    f.get_slice(keys[-1])[:]
        except Exception as e:  # noqa: BLE001 - any parse failure means a damaged file
            raise HfnetError(
                f"{weights[0]} is corrupted or truncated ({str(e).splitlines()[0][:120]}); re-save or re-download it"
            ) from e


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
        _check_weights(path)
        return path.resolve(), None, config
    if not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", name):
        raise HfnetError(f"'{name}' is neither an existing folder nor a valid Hub model id (owner/name)")
    from huggingface_hub import hf_hub_download

    try:
        cfg_file = hf_hub_download(name, "config.json")
    except Exception as e:  # noqa: BLE001 - every Hub failure becomes one clear line
        raise _hub_error(name, e) from e
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

    Raises:
        HfnetError: the folder is not a model, its weights are damaged, or the Hub id cannot be reached.
    """
    folder, repo_id, config = _resolve(name_or_path)
    library = detect_library(config)
    source = str(name_or_path)
    try:
        if library == "timm":
            import timm

            ref = f"local-dir:{folder}" if folder is not None else f"hf-hub:{repo_id}"
            model = timm.create_model(ref, pretrained=True)
            pre = _timm_preprocessing(model)
            names = _timm_class_names(model)
            model.eval()
            return HubClassifier(model, "timm", class_names=names, preprocessing=pre, source=source)
        from transformers import AutoModelForImageClassification

        model = AutoModelForImageClassification.from_pretrained(str(folder) if folder else repo_id)
        model.eval()
        pre = _transformers_preprocessing(model.config, folder)
        return HubClassifier(
            model,
            "transformers",
            class_names=_transformers_class_names(model.config),
            preprocessing=pre,
            source=source,
        )
    except HfnetError:
        raise
    except Exception as e:  # noqa: BLE001
        if repo_id is not None and type(e).__module__.startswith(("huggingface_hub", "requests", "httpx")):
            raise _hub_error(repo_id, e) from e
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise HfnetError(f"cannot build the {library} model from {name_or_path}: {type(e).__name__}: {first}") from e


# ---------------------------------------------------------------------- model cards and push
def _template_dir() -> Path:
    return Path(str(resources.files("hfnet") / "model_cards"))


def render_model_card(
    info: ModelCardInfo, *, library: Library | str = "transformers", template: str = "hfnet_model_card.md"
) -> str:
    """Render a model card (YAML front matter + body) from a template in ``model_cards/``."""
    from huggingface_hub import ModelCard, ModelCardData

    tags = sorted({"hfnet", "image-classification", library, *info.tags})
    metrics = list(info.metrics)
    card_data = ModelCardData(
        library_name=library,
        base_model=info.base_model,
        tags=tags,
        datasets=info.datasets or None,
        metrics=metrics or None,
        pipeline_tag="image-classification",
    )
    card = ModelCard.from_template(
        card_data,
        template_path=str(_template_dir() / template),
        title=info.title,
        summary=info.summary,
        results=info.metrics,
        details=info.details,
        library=library,
    )
    return str(card)


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload with hfnet",
) -> str:
    """Upload a saved folder to the Hub; the local folder is never modified or removed, even when the push fails.

    A folder without README.md gets a minimal card rendered from its config (written locally first).
    """
    from huggingface_hub import HfApi

    folder = Path(folder).expanduser()
    if not (folder / "config.json").is_file():
        raise HfnetError(f"{folder} is not a saved model folder (no config.json); nothing was pushed")
    _check_weights(folder)
    if not (folder / "README.md").is_file():
        config = json.loads((folder / "config.json").read_text())
        library = detect_library(config)
        info = ModelCardInfo(
            title=folder.name,
            summary="Pushed with `hfnet push`; no hfnet card was found in the folder, so no results are stated.",
        )
        atomic_write_text(folder / "README.md", render_model_card(info, library=library))
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message)
    except Exception as e:  # noqa: BLE001 - report the reason, keep the local result
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise HfnetError(
            f"push of {folder} to {repo_id} failed ({type(e).__name__}: {first}); the local folder is kept as it was. "
            "Log in with `hf auth login` (or pass --token), check the repo id and your network, then retry `hfnet push`."
        ) from e
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")
