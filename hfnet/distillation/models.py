"""Name a student, assistant or teacher on the command line: a saved/Hub checkpoint or a fresh small architecture."""

from __future__ import annotations

import logging

from hfnet.classifier import HubClassifier
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = ["load_model_spec"]

_ZOO = ("tiny_vit", "tiny_resnet")


def _parse_kwargs(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise HfnetError(f"model option {item!r} must look like key=value (e.g. zoo:tiny_vit:hidden_size=32)")
        key, value = item.split("=", 1)
        parsed: object = value
        if "x" in value and all(v.isdigit() for v in value.split("x")):
            parsed = tuple(int(v) for v in value.split("x"))  # hidden_sizes=32x64
        else:
            for cast in (int, float):
                try:
                    parsed = cast(value)
                    break
                except ValueError:
                    continue
        out[key.strip()] = parsed
    return out


def load_model_spec(
    spec: str, class_names: list[str], *, seed: int = 0, image_size: int | None = None, replace_head: bool = False
) -> HubClassifier:
    """Build or load a classifier for ``class_names``.

    ``spec`` is one of:

    - ``zoo:tiny_vit[:key=value,...]`` / ``zoo:tiny_resnet[:...]``: a fresh :mod:`hfnet.zoo` model (random init);
    - ``timm:NAME[:key=value,...]``: a fresh ``timm.create_model(NAME, num_classes=len(class_names), ...)``;
    - a Hub id, ``hf-hub:timm/...`` or a local Hub-format folder (:func:`hfnet.classifier.load_classifier`). Its classes
      must be ``class_names`` unless ``replace_head`` (then a fresh head for them is put on).
    """
    parts = spec.split(":", 2)
    if parts[0] == "zoo":
        return _zoo_model(spec, parts, class_names, seed=seed, image_size=image_size)
    if parts[0] == "timm":
        return _timm_model(parts, class_names, seed=seed, image_size=image_size)
    return _checkpoint(spec, class_names, replace_head=replace_head)


def _options(parts: list[str]) -> dict[str, object]:
    """The ``key=value,...`` options after ``zoo:NAME:`` / ``timm:NAME:`` (none when absent)."""
    return _parse_kwargs(parts[2] if len(parts) > 2 else "")


def _zoo_model(
    spec: str, parts: list[str], class_names: list[str], *, seed: int, image_size: int | None
) -> HubClassifier:
    """A fresh :mod:`hfnet.zoo` model; its config classes validate the options (their errors: one ``HfnetError``)."""
    from huggingface_hub.errors import StrictDataclassError

    from hfnet import zoo

    if len(parts) < 2 or parts[1] not in _ZOO:
        raise HfnetError(f"unknown zoo model in {spec!r}; use one of " + ", ".join(f"zoo:{n}" for n in _ZOO))
    kwargs = _options(parts)
    if image_size is not None:
        kwargs.setdefault("image_size", image_size)
    kwargs.setdefault("seed", seed)
    try:
        return getattr(zoo, parts[1])(list(class_names), **kwargs)
    except (TypeError, ValueError, StrictDataclassError) as e:  # the config classes validate their fields
        raise HfnetError(f"bad option for {parts[1]}: {' '.join(str(e).split())[:200]}") from e


def _timm_model(parts: list[str], class_names: list[str], *, seed: int, image_size: int | None) -> HubClassifier:
    """A fresh ``timm.create_model(NAME, num_classes=len(class_names), ...)`` (init from ``seed``), its preprocessing
    at ``image_size`` when given."""
    import timm
    import torch

    from hfnet.preprocessing import Preprocessing

    if len(parts) < 2 or not parts[1]:
        raise HfnetError("timm models are named timm:NAME, e.g. timm:test_resnet")
    kwargs = _options(parts)
    if image_size is not None and "img_size" not in kwargs and "vit" in parts[1]:
        kwargs["img_size"] = image_size
    torch.manual_seed(seed)
    try:
        model = timm.create_model(parts[1], pretrained=False, num_classes=len(class_names), **kwargs)
    except (RuntimeError, TypeError) as e:
        raise HfnetError(f"timm cannot build {parts[1]!r}: {e}") from e
    clf = HubClassifier.from_model(model, class_names=list(class_names), source=f"timm:{parts[1]}")
    if image_size is not None:
        pre = clf.preprocessing
        clf.preprocessing = Preprocessing((image_size, image_size), pre.mean, pre.std, pre.interpolation, 1.0)
    return clf


def _checkpoint(spec: str, class_names: list[str], *, replace_head: bool) -> HubClassifier:
    """A saved or Hub classifier whose classes must be ``class_names``, unless ``replace_head`` gives it a fresh head
    for them; one saved without class names takes ``class_names``."""
    from hfnet.classifier import load_classifier

    clf = load_classifier(spec)
    if not _same_classes(clf.num_classes, clf.class_names, class_names):
        if not replace_head:
            raise HfnetError(
                f"{spec} predicts {clf.num_classes} classes ({(clf.class_names or [])[:5]}...), not the dataset's "
                f"{len(class_names)} ({list(class_names)[:5]}...); pass --replace-student-head to give it a fresh head"
            )
        logger.info("replacing the head of %s for %d classes", spec, len(class_names))
        clf.replace_head(list(class_names))
    elif clf.class_names is None:
        clf.class_names = list(class_names)
    return clf


def _same_classes(num_classes: int, names: list[str] | None, class_names: list[str]) -> bool:
    """Whether a head of ``num_classes`` outputs named ``names`` (None: unnamed) predicts ``class_names``."""
    return num_classes == len(class_names) and (names in (None, list(class_names)))
