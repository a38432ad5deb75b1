"""Offline evaluation: top-1 / top-5 accuracy and cross-entropy loss, batched, with a progress bar.

Accuracy is computed by the ``evaluate`` metric module shipped with hfnet (``hfnet/metrics/accuracy``), loaded by
path with ``evaluate.load`` so it works with no network (``evaluate.load("accuracy")`` would fetch its script from the
Hub); results have ``evaluate``'s shape (``{"accuracy": float}``).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from hfnet._modelstate import eval_mode
from hfnet.data import is_transformed, model_batches
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = ["accuracy", "accuracy_metric", "check_class_names", "evaluate_classifier", "predict", "top_k_accuracy"]


def accuracy_metric():
    """hfnet's ``evaluate`` accuracy module (``k`` for top-k), loaded offline from the package."""
    import evaluate  # lazy: importing `evaluate` costs seconds and only this function needs it

    return evaluate.load(str(Path(str(resources.files("hfnet") / "metrics" / "accuracy"))))


def accuracy(predictions, references) -> dict[str, float]:
    """``evaluate``-shaped accuracy of integer predictions against integer references."""
    predictions = torch.as_tensor(predictions)
    references = torch.as_tensor(references)
    if predictions.shape != references.shape:
        raise HfnetError(f"predictions {tuple(predictions.shape)} and references {tuple(references.shape)} differ")
    if references.numel() == 0:
        raise HfnetError("cannot compute accuracy of zero examples")
    result = accuracy_metric().compute(predictions=predictions.tolist(), references=references.tolist())
    return {"accuracy": float(result["accuracy"])}


def top_k_accuracy(logits: torch.Tensor, references: torch.Tensor, k: int) -> float:
    """Fraction of rows whose reference is among the ``k`` largest logits (the shipped metric with ``k``)."""
    result = accuracy_metric().compute(predictions=logits.float().tolist(), references=references.tolist(), k=k)
    return float(result["accuracy"])


@torch.no_grad()
def predict(model: nn.Module, dataset, *, batch_size: int = 64, progress: bool = True, desc: str = "predict"):
    """Logits ``[N, C]`` and labels ``[N]`` of a model over a dataset (raw or already transformed).

    The model runs in eval mode; every submodule's mode is restored exactly afterwards.
    """
    if len(dataset) == 0:
        raise HfnetError("the dataset is empty: nothing to evaluate")
    if not is_transformed(dataset) and not hasattr(model, "preprocessing"):
        raise HfnetError("a raw dataset needs a HubClassifier (with .preprocessing) or a transformed dataset")
    device = next(model.parameters()).device
    batches = model_batches(dataset, getattr(model, "preprocessing", None), batch_size, progress=progress, desc=desc)
    all_logits, all_labels = [], []
    with eval_mode(model):
        for batch in batches:
            out = model(batch["pixel_values"].to(device))
            logits = out.logits if hasattr(out, "logits") else out
            all_logits.append(logits.float().cpu())
            all_labels.append(batch["labels"])
    return torch.cat(all_logits), torch.cat(all_labels)


def _dataset_class_names(dataset) -> list[str] | None:
    features = getattr(dataset, "features", None)
    feature = features.get("label") if features is not None else None
    names = getattr(feature, "names", None)
    if not names or all(str(n) == str(i) for i, n in enumerate(names)) and len(names) > 10:
        return None  # a bare ClassLabel(num_classes=N) carries no real names
    return [str(n) for n in names]


def check_class_names(model: nn.Module, dataset) -> bool:
    """Warn (``logging.warning``) when the model's class names are not the dataset's; returns whether they match.

    A model whose names are unknown, or a dataset without names, is not warned about.
    """
    model_names = getattr(model, "class_names", None)
    data_names = _dataset_class_names(dataset)
    if model_names is None or data_names is None:
        return True
    if [str(n) for n in model_names] == data_names:
        return True
    overlap = len(set(map(str, model_names)) & set(data_names))
    logger.warning(
        "the model's %d classes are not the dataset's %d (%d names in common; model: %s; dataset: %s): its label "
        "ids mean other classes, so the accuracy is not meaningful. Replace the head and fine-tune for this dataset.",
        len(model_names),
        len(data_names),
        overlap,
        ", ".join(map(str, model_names[:4])) + (", ..." if len(model_names) > 4 else ""),
        ", ".join(data_names[:4]) + (", ..." if len(data_names) > 4 else ""),
    )
    return False


def evaluate_classifier(model: nn.Module, dataset, *, batch_size: int = 64, progress: bool = True) -> dict[str, float]:
    """Accuracy (top-1; top-5 when there are more than 5 classes), mean cross-entropy loss and sample count.

    The model's mode (and every submodule's) is the same before and after. Warns when the model's class names are
    not the dataset's.

    Args:
        model: a :class:`hfnet.HubClassifier` (or any module mapping pixels to logits).
        dataset: a ``datasets.Dataset`` with ``image``/``label`` columns, or one already transformed to
            ``pixel_values``/``labels``.
    """
    check_class_names(model, dataset)
    logits, labels = predict(model, dataset, batch_size=batch_size, progress=progress, desc="evaluate")
    if labels.max() >= logits.shape[1]:
        raise HfnetError(
            f"labels go up to {int(labels.max())} but the model has {logits.shape[1]} outputs; "
            "replace its head for this dataset first (HubClassifier.replace_head)"
        )
    result = accuracy(logits.argmax(dim=1), labels)
    if logits.shape[1] > 5:
        result["top5_accuracy"] = top_k_accuracy(logits, labels, 5)
    result["loss"] = float(nn.functional.cross_entropy(logits, labels))
    result["num_samples"] = int(labels.numel())
    return result
