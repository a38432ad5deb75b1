"""Compare the conv filters of two saved models: :func:`run` is what ``hfnet filters`` runs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from hfnet._io import atomic_write_text
from hfnet.analysis.config import FilterConfig
from hfnet.analysis.filters import FilterComparison, Metric, compare_filters, get_conv_weight, random_like
from hfnet.analysis.plots import plot_comparison
from hfnet.classifier import load_classifier

__all__ = ["FilterResult", "compare_models", "run", "state_dict_of"]


def state_dict_of(model) -> dict[str, Tensor]:
    """A state dict from a path / Hub id (:func:`~hfnet.classifier.load_classifier`), a HubClassifier, an nn.Module or a dict."""
    if isinstance(model, dict):
        return model
    if isinstance(model, str | os.PathLike | Path):
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


@dataclass
class FilterResult:
    """What :func:`run` measured: the layer, the comparison, and the files it wrote (None: not asked for)."""

    layer: str
    comparison: FilterComparison
    plot: Path | None = None
    json: Path | None = None

    def summary(self, config: FilterConfig) -> dict[str, Any]:
        return {"model_a": config.model_a, "model_b": config.model_b, "layer": self.layer, **self.comparison.summary}


def run(config: FilterConfig) -> FilterResult:
    """Compare, then write the heatmap (``config.plot``) and the JSON summary with the matrix (``config.json``)."""
    layer, comparison = compare_models(
        config.model_a,
        config.model_b,
        layer=config.layer,
        layer_b=config.layer_b,
        metric=config.metric,
        threshold=config.threshold,
        random_seed=config.seed,
    )
    result = FilterResult(layer, comparison)
    if config.plot:
        result.plot = plot_comparison(comparison, config.plot, title=f"{layer} ({config.metric})", labels=("A", "B"))
    if config.json:
        payload = {"model_a": config.model_a, "model_b": config.model_b, "layer": layer}
        payload.update(comparison.to_dict(with_matrix=True))
        result.json = atomic_write_text(Path(config.json), json.dumps(payload, indent=2, default=str))
    return result
