"""Offline evaluation: top-1 / top-5 accuracy and cross-entropy loss, batched, with a progress bar.

``evaluate.load("accuracy")`` fetches its script from the Hub, which fails offline, so the metric is computed here
and returned in ``evaluate``'s shape (``{"accuracy": float, ...}``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hfnet.data import collate_fn, is_transformed, with_model_transform
from hfnet.errors import HfnetError


def accuracy(predictions, references) -> dict[str, float]:
    """``evaluate``-shaped accuracy of integer predictions against integer references."""
    predictions = torch.as_tensor(predictions)
    references = torch.as_tensor(references)
    if predictions.shape != references.shape:
        raise HfnetError(f"predictions {tuple(predictions.shape)} and references {tuple(references.shape)} differ")
    if references.numel() == 0:
        raise HfnetError("cannot compute accuracy of zero examples")
    return {"accuracy": float((predictions == references).float().mean())}


def top_k_accuracy(logits: torch.Tensor, references: torch.Tensor, k: int) -> float:
    """Fraction of rows whose reference is among the ``k`` largest logits."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return float((top == references[:, None]).any(dim=1).float().mean())


@torch.no_grad()
def predict(model: nn.Module, dataset, *, batch_size: int = 64, progress: bool = True, desc: str = "predict"):
    """Logits ``[N, C]`` and labels ``[N]`` of a model over a dataset (raw or already transformed)."""
    if len(dataset) == 0:
        raise HfnetError("the dataset is empty: nothing to evaluate")
    if not is_transformed(dataset):
        if not hasattr(model, "preprocessing"):
            raise HfnetError("a raw dataset needs a HubClassifier (with .preprocessing) or a transformed dataset")
        dataset = with_model_transform(dataset, model.preprocessing)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    all_logits, all_labels = [], []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        out = model(batch["pixel_values"].to(device))
        logits = out.logits if hasattr(out, "logits") else out
        all_logits.append(logits.float().cpu())
        all_labels.append(batch["labels"])
    model.train(was_training)
    return torch.cat(all_logits), torch.cat(all_labels)


def evaluate_classifier(model: nn.Module, dataset, *, batch_size: int = 64, progress: bool = True) -> dict[str, float]:
    """Accuracy (top-1; top-5 when there are more than 5 classes), mean cross-entropy loss and sample count.

    Args:
        model: a :class:`hfnet.HubClassifier` (or any module mapping pixels to logits).
        dataset: a ``datasets.Dataset`` with ``image``/``label`` columns, or one already transformed to
            ``pixel_values``/``labels``.
    """
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
