"""Compare the conv filters of two saved models (what ``hfnet filters`` runs)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor

from hfnet.analysis.filters import FilterComparison, Metric, compare_filters, get_conv_weight, random_like


def state_dict_of(model) -> dict[str, Tensor]:
    """A state dict from a path / Hub id (loaded with hfnet.hub), a HubClassifier, an nn.Module or a dict."""
    if isinstance(model, dict):
        return model
    if isinstance(model, str | os.PathLike | Path):
        from hfnet.classifier import load_classifier

        model = load_classifier(model)
    inner = getattr(model, "model", model)
    return inner.state_dict()


def compare_models(
    model_a,
    model_b,
    *,
    layer: str | None = None,
    layer_b: str | None = None,
    metric: Metric = "cosine",
    threshold: float = 0.5,
    random_seed: int | None = 0,
) -> tuple[str, FilterComparison]:
    """Compare conv ``layer`` (default: the first conv) of two models; returns the layer name and the comparison.

    With ``random_seed`` set, the summary also holds every number for random weights of the same shapes and stds
    (keys suffixed ``_random``), the reference that shows how much of the match is due to training.
    """
    name_a, wa = get_conv_weight(state_dict_of(model_a), layer)
    _, wb = get_conv_weight(state_dict_of(model_b), layer_b or layer or None)
    result = compare_filters(wa, wb, metric=metric, threshold=threshold)
    if random_seed is not None:
        rand = compare_filters(
            random_like(wa, random_seed), random_like(wb, random_seed + 1), metric=metric, threshold=threshold
        )
        result.summary.update({f"{k}_random": v for k, v in rand.summary.items() if not k.startswith("num_")})
    return name_a, result
