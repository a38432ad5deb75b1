"""Masks -> model: zero weights in place, keep them zero through fine-tuning, export a plain checkpoint.

The mask is held outside the model (no parametrisation, no hooks, no extra buffers), so what gets saved is the
ordinary architecture with zeros baked into its weights: it loads in plain transformers / timm. During training
:class:`MaskCallback` zeroes the masked gradients before every optimizer step (so momentum and Adam moments of
pruned weights stay zero) and the masked weights after it (so weight decay, mixed precision and any optimizer
cannot revive them). With gradient accumulation both happen once per optimizer step; the forward passes in between
see the unchanged, zeroed weights.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import TrainerCallback

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = ["MaskCallback", "MaskedWeights", "SparsityReport", "apply_masks", "sparsity_report"]


class MaskedWeights:
    """The parameters of a classifier paired with their keep-masks; ``zero_()`` / ``zero_grad_()`` enforce them."""

    def __init__(self, classifier, masks: Mapping[str, Tensor]) -> None:
        model = classifier.model if hasattr(classifier, "model") else classifier
        params = dict(model.named_parameters())
        self.pairs: list[tuple[str, nn.Parameter, Tensor]] = []
        for name, mask in masks.items():
            if name not in params:
                raise HfnetError(f"mask for {name!r}, which is not a parameter of {type(model).__name__}")
            p = params[name]
            if tuple(mask.shape) != tuple(p.shape):
                raise HfnetError(f"mask for {name} has shape {tuple(mask.shape)}, the weight {tuple(p.shape)}")
            self.pairs.append((name, p, mask.to(torch.bool)))

    def _mask(self, i: int, device: torch.device) -> Tensor:
        name, _, mask = self.pairs[i]
        if mask.device != device:
            mask = mask.to(device)
            self.pairs[i] = (name, self.pairs[i][1], mask)
        return mask

    @torch.no_grad()
    def zero_(self) -> None:
        """Set every masked weight to exactly zero."""
        for i, (_, p, _) in enumerate(self.pairs):
            p.masked_fill_(~self._mask(i, p.device), 0)

    @torch.no_grad()
    def zero_grad_(self) -> None:
        """Set the gradients of masked weights to zero (before the optimizer reads them)."""
        for i, (_, p, _) in enumerate(self.pairs):
            if p.grad is not None:
                p.grad.masked_fill_(~self._mask(i, p.grad.device), 0)


def apply_masks(classifier, masks: Mapping[str, Tensor]) -> MaskedWeights:
    """Zero the masked weights of ``classifier`` in place; returns the :class:`MaskedWeights` to keep them zero."""
    masked = MaskedWeights(classifier, masks)
    masked.zero_()
    return masked


class MaskCallback(TrainerCallback):
    """Keeps pruned weights at exactly zero through ``Trainer`` fine-tuning (any optimizer, weight decay, AMP).

    Pass it to ``Trainer(callbacks=[MaskCallback(classifier, masks)])``; the classifier must be the trained model.
    """

    def __init__(self, classifier, masks: Mapping[str, Tensor]) -> None:
        self.masked = MaskedWeights(classifier, masks)

    def on_train_begin(self, args, state, control, **kwargs: Any):
        self.masked.zero_()

    def on_pre_optimizer_step(self, args, state, control, **kwargs: Any):
        self.masked.zero_grad_()

    def on_optimizer_step(self, args, state, control, **kwargs: Any):
        self.masked.zero_()

    def on_step_end(self, args, state, control, **kwargs: Any):
        self.masked.zero_()

    def on_train_end(self, args, state, control, **kwargs: Any):
        self.masked.zero_()


@dataclass
class SparsityReport:
    """Zeros of a pruned model: over the prunable weights (what the mask covers) and over all parameters."""

    prunable_zeros: int
    prunable_total: int
    model_zeros: int
    model_total: int

    @property
    def prunable_sparsity(self) -> float:
        return self.prunable_zeros / max(self.prunable_total, 1)

    @property
    def model_sparsity(self) -> float:
        return self.model_zeros / max(self.model_total, 1)

    def to_dict(self) -> dict[str, float]:
        return {
            "sparsity_prunable": self.prunable_sparsity,
            "sparsity_all_weights": self.model_sparsity,
            "pruned_weights": self.prunable_zeros,
            "prunable_weights": self.prunable_total,
            "all_weights": self.model_total,
        }


def sparsity_report(classifier, masks: Mapping[str, Tensor]) -> SparsityReport:
    """Count the masked weights (the pruned ones) against the prunable and the total parameter count."""
    model = classifier.model if hasattr(classifier, "model") else classifier
    pruned = sum(int((~m.bool()).sum()) for m in masks.values())
    prunable = sum(m.numel() for m in masks.values())
    total = sum(p.numel() for p in model.parameters())
    return SparsityReport(pruned, prunable, pruned, total)
