"""The pixels a classifier expects, taken from the model's own processor.

- transformers checkpoints (Hub id or folder): the repo's image processor (``AutoImageProcessor``) is loaded and
  *called* on every image, so hfnet's pixels are the processor's ``pixel_values`` (resize by shortest edge or to a
  fixed size, centre crop, resample, rescale, normalise: whatever the repo says). Saving writes that processor back
  with ``processor.save_pretrained``, changed only where hfnet changed the input (for example a new image size).
- timm checkpoints: the pretrained config through timm's own ``resolve_data_config`` / ``create_transform``
  (aspect-preserving resize to ``size / crop_pct``, centre crop, interpolation, mean/std).
- A transformers model with no processor: a stated default (resize to the config's ``image_size`` or 224, bilinear,
  ImageNet mean/std) with a warning; an in-memory model gets a processor built from its :class:`Preprocessing`, so what
  hfnet computes and what it saves agree.

Images are converted to the model's own input channels first: RGB for 3-channel models (as
``pipeline("image-classification")`` does), grey (``L``) for 1-channel ones (transformers ``num_channels=1``, timm
``in_chans=1``).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from timm.data import create_transform
from torchvision.transforms import v2
from transformers import AutoImageProcessor, DeiTImageProcessor, ViTImageProcessor

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MEAN",
    "DEFAULT_STD",
    "Preprocessing",
    "attach_processor",
    "build_transform",
    "default_image_processor",
    "derive_image_processor",
    "from_image_processor",
    "from_timm_config",
    "load_transformers_preprocessing",
    "save_image_processor",
    "timm_data_config",
    "with_model_transform",
]

DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_PIL_CODE = {v: k for k, v in _PIL_RESAMPLE.items()}


@dataclass
class Preprocessing:
    """The input a classifier expects.

    The fields summarise the pipeline (final ``image_size`` after any crop, ``mean``/``std``, ``interpolation``,
    ``crop_pct`` = crop / resize). ``processor`` is what actually makes the pixels: a transformers image processor
    (transformers models), a timm data-config dict (timm models), or ``None`` (hfnet's own resize + normalise built
    from the fields, for models that are neither).
    """

    image_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    processor: Any = field(default=None, repr=False, compare=False)
    channels: int = 3

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise HfnetError(f"models read 1 (grey) or 3 (RGB) input channels, not {self.channels}")
        self.mean = _per_channel(self.mean, self.channels)
        self.std = _per_channel(self.std, self.channels)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "image_size": tuple(self.image_size),
            "mean": tuple(self.mean),
            "std": tuple(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "channels": self.channels,
        }
        if isinstance(self.processor, dict):
            out["timm_data_config"] = dict(self.processor)
        elif self.processor is not None:
            out["image_processor"] = type(self.processor).__name__
        return out


def _per_channel(values: Any, channels: int) -> tuple[float, ...]:
    """Mean / std with one value per input channel (an RGB triple for a grey model: their average)."""
    values = tuple(float(v) for v in values)
    if len(values) == channels:
        return values
    if channels == 1:
        return (sum(values) / len(values),)
    if len(values) == 1:
        return values * channels
    raise HfnetError(f"{len(values)} normalisation values for a {channels}-channel model")


def _is_image_processor(obj: Any) -> bool:
    return obj is not None and not isinstance(obj, dict) and hasattr(obj, "to_dict") and callable(obj)


def _size_of(size: Any) -> dict[str, int]:
    """A processor's ``size`` / ``crop_size`` (int, dict or transformers ``SizeDict``) as a plain dict."""
    if size is None:
        return {}
    if isinstance(size, int):
        return {"height": size, "width": size}
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    return {k: int(get(k)) for k in ("height", "width", "shortest_edge", "longest_edge") if get(k) is not None}


def from_image_processor(processor: Any, channels: int | None = None) -> Preprocessing:
    """The :class:`Preprocessing` of a transformers image processor (the processor itself makes the pixels).

    ``channels``: the model's input channels (config ``num_channels``); default: one per normalisation value.
    """
    size = _size_of(getattr(processor, "size", None))
    crop = _size_of(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else {}
    if "height" in size:
        resized = (size["height"], size["width"])
    elif "shortest_edge" in size:
        resized = (size["shortest_edge"], size["shortest_edge"])
    else:
        resized = (224, 224)
    final = (crop["height"], crop["width"]) if "height" in crop else resized
    resample = getattr(processor, "resample", 2)
    resample = int(getattr(resample, "value", resample) if resample is not None else 2)
    do_norm = getattr(processor, "do_normalize", True)
    mean = tuple(float(v) for v in (getattr(processor, "image_mean", None) or DEFAULT_MEAN)) if do_norm else (0.0,) * 3
    std = tuple(float(v) for v in (getattr(processor, "image_std", None) or DEFAULT_STD)) if do_norm else (1.0,) * 3
    if channels is None:
        channels = 1 if len(mean) == 1 else 3
    return Preprocessing(
        image_size=(int(final[0]), int(final[1])),
        mean=mean,
        std=std,
        interpolation=_PIL_RESAMPLE.get(resample, "bilinear"),
        crop_pct=float(min(final[0] / resized[0], 1.0)) if resized[0] else 1.0,
        processor=processor,
        channels=channels,
    )


def default_image_processor(pre: Preprocessing):
    """A transformers image processor that computes exactly what ``pre`` describes (resize [+ centre crop] + norm)."""

    h, w = (int(v) for v in pre.image_size)
    common = dict(
        resample=_PIL_CODE.get(pre.interpolation, 2),
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(pre.mean),
        image_std=list(pre.std),
    )
    if pre.crop_pct < 1.0:
        size = {"height": int(h / pre.crop_pct), "width": int(w / pre.crop_pct)}
        return DeiTImageProcessor(size=size, crop_size={"height": h, "width": w}, do_center_crop=True, **common)
    return ViTImageProcessor(size={"height": h, "width": w}, **common)


def derive_image_processor(processor: Any, pre: Preprocessing):
    """A copy of ``processor`` changed only where ``pre`` differs from what the processor does."""
    current = from_image_processor(processor)
    changes: dict[str, Any] = {}
    if tuple(current.image_size) != tuple(pre.image_size) or current.crop_pct != pre.crop_pct:
        h, w = (int(v) for v in pre.image_size)
        if pre.crop_pct < 1.0:
            changes.update(
                size={"height": int(h / pre.crop_pct), "width": int(w / pre.crop_pct)},
                crop_size={"height": h, "width": w},
                do_center_crop=True,
            )
        else:
            changes.update(size={"height": h, "width": w}, do_center_crop=False)
    if tuple(current.mean) != tuple(pre.mean) or tuple(current.std) != tuple(pre.std):
        changes.update(image_mean=list(pre.mean), image_std=list(pre.std), do_normalize=True)
    if current.interpolation != pre.interpolation:
        changes["resample"] = _PIL_CODE.get(pre.interpolation, 2)
    if not changes:
        return copy.deepcopy(processor)
    logger.info("image processor changed where the input changed: %s", sorted(changes))
    return type(processor).from_dict({**processor.to_dict(), **changes})


def from_timm_config(data_config: dict[str, Any]) -> Preprocessing:
    """The :class:`Preprocessing` of a timm data config (``resolve_data_config`` output)."""
    input_size = tuple(data_config.get("input_size", (3, 224, 224)))
    channels = int(input_size[0]) if len(input_size) == 3 else 3
    cfg = {
        "input_size": (channels, int(input_size[-2]), int(input_size[-1])),
        "interpolation": str(data_config.get("interpolation", "bicubic")),
        "mean": _per_channel(data_config.get("mean", DEFAULT_MEAN), channels),
        "std": _per_channel(data_config.get("std", DEFAULT_STD), channels),
        "crop_pct": float(data_config.get("crop_pct") or 1.0),
        "crop_mode": str(data_config.get("crop_mode") or "center"),
    }
    return Preprocessing(
        image_size=(cfg["input_size"][1], cfg["input_size"][2]),
        mean=cfg["mean"],
        std=cfg["std"],
        interpolation=cfg["interpolation"],
        crop_pct=cfg["crop_pct"],
        processor=cfg,
        channels=channels,
    )


def timm_data_config(pre: Preprocessing) -> dict[str, Any]:
    """The timm data config that ``pre`` stands for (the attached one, or one built from the fields)."""
    if isinstance(pre.processor, dict):
        return dict(pre.processor)
    return {
        "input_size": (pre.channels, int(pre.image_size[0]), int(pre.image_size[1])),
        "interpolation": pre.interpolation,
        "mean": tuple(pre.mean),
        "std": tuple(pre.std),
        "crop_pct": float(pre.crop_pct),
        "crop_mode": "center",
    }


def attach_processor(pre: Preprocessing, library: str, previous: Preprocessing | None = None) -> Preprocessing:
    """``pre`` with the processor that makes its pixels for a model of ``library`` (kept when it has one)."""
    if library == "timm":
        if isinstance(pre.processor, dict):
            return pre
        return from_timm_config(timm_data_config(pre))
    if _is_image_processor(pre.processor):
        return pre
    if previous is not None and _is_image_processor(previous.processor):
        return from_image_processor(derive_image_processor(previous.processor, pre), pre.channels)
    return from_image_processor(default_image_processor(pre), pre.channels)


def load_transformers_preprocessing(source: str | os.PathLike, config: Any) -> Preprocessing:
    """The repo's image processor (``AutoImageProcessor``) of a Hub id or folder; a stated default when it has none."""

    try:
        processor = AutoImageProcessor.from_pretrained(str(source))
    except Exception as e:  # noqa: BLE001 - any missing / unreadable processor falls back to the stated default
        size = getattr(config, "image_size", None) or 224
        size = (size, size) if isinstance(size, int) else tuple(size)
        pre = Preprocessing(image_size=(int(size[0]), int(size[1])), channels=_config_channels(config))
        logger.warning(
            "%s has no usable image processor (%s); using hfnet's default: resize to %dx%d, bilinear, ImageNet "
            "mean/std. Save the model's processor next to it (preprocessor_config.json) for its real preprocessing.",
            source,
            (str(e).splitlines() or [type(e).__name__])[0][:120],
            *pre.image_size,
        )
        return from_image_processor(default_image_processor(pre), pre.channels)
    if not hasattr(processor, "to_dict") or not callable(processor):
        raise HfnetError(f"{source} has a {type(processor).__name__}, not an image processor")
    return from_image_processor(processor, _config_channels(config))


def _config_channels(config: Any) -> int:
    """A transformers config's input channels (``num_channels``; 3 when it does not say)."""
    return int(getattr(config, "num_channels", None) or 3)


def save_image_processor(pre: Preprocessing, folder: str | os.PathLike) -> None:
    """Write the processor of a transformers model (``processor.save_pretrained``) into ``folder``."""
    processor = pre.processor if _is_image_processor(pre.processor) else default_image_processor(pre)
    processor.save_pretrained(str(Path(folder)))


# ---------------------------------------------------------------------- transforms
def _to_channels(image, channels: int):
    """A PIL image in the model's mode: ``RGB`` (3 channels) or ``L`` (1 channel)."""
    mode = "L" if channels == 1 else "RGB"
    if getattr(image, "mode", mode) != mode:
        image = image.convert(mode)
    return image


def _torchvision_pipeline(pre: Preprocessing, train: bool) -> Callable:

    modes = {
        "bilinear": v2.InterpolationMode.BILINEAR,
        "bicubic": v2.InterpolationMode.BICUBIC,
        "nearest": v2.InterpolationMode.NEAREST,
        "lanczos": v2.InterpolationMode.LANCZOS,
    }
    interp = modes.get(pre.interpolation, v2.InterpolationMode.BILINEAR)
    h, w = pre.image_size
    if train:
        resize = [v2.RandomResizedCrop((h, w), scale=(0.8, 1.0), interpolation=interp, antialias=True)]
    elif pre.crop_pct < 1.0:
        scale = (int(h / pre.crop_pct), int(w / pre.crop_pct))
        resize = [v2.Resize(scale, interpolation=interp, antialias=True), v2.CenterCrop((h, w))]
    else:
        resize = [v2.Resize((h, w), interpolation=interp, antialias=True)]
    return v2.Compose(
        [v2.ToImage(), *resize, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(pre.mean), list(pre.std))]
    )


def build_transform(pre: Preprocessing, *, train: bool = False) -> Callable:
    """PIL image -> ``[C, H, W]`` float tensor (``C``: the model's input channels) exactly as the model's processor makes it.

    ``train=True`` gives light augmentation instead (random resized crop at scale 0.8-1 to ``image_size``, then the
    model's mean/std); evaluation always uses the processor.
    """
    if train or pre.processor is None:
        pipeline = _torchvision_pipeline(pre, train)
        return lambda image: pipeline(_to_channels(image, pre.channels))
    if isinstance(pre.processor, dict):
        cfg = dict(pre.processor)
        timm_transform = create_transform(**cfg, is_training=False)
        return lambda image: timm_transform(_to_channels(image, pre.channels))
    processor = pre.processor

    def transform(image) -> torch.Tensor:
        return processor(images=_to_channels(image, pre.channels), return_tensors="pt")["pixel_values"][0]

    return transform


def with_model_transform(dataset, preprocessing: Preprocessing, *, train: bool = False):
    """Attach an on-the-fly transform giving ``{"pixel_values": [3, H, W], "labels": int}`` per example.

    Works on a ``Dataset`` or ``DatasetDict`` with ``image``/``label`` columns; the stored data is untouched
    (``datasets.Dataset.with_transform``).
    """

    if isinstance(dataset, datasets.DatasetDict):
        return datasets.DatasetDict(
            {k: with_model_transform(v, preprocessing, train=train) for k, v in dataset.items()}
        )
    missing = {"image", "label"} - set(dataset.column_names)
    if missing:
        raise HfnetError(
            f"dataset lacks column(s) {sorted(missing)} (has {dataset.column_names}); load it with hfnet.load_image_dataset"
        )
    fn = build_transform(preprocessing, train=train)

    def apply(batch: dict[str, list]) -> dict[str, list]:
        return {"pixel_values": [fn(im) for im in batch["image"]], "labels": list(batch["label"])}

    return dataset.with_transform(apply)
