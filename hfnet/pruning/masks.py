"""Scores -> boolean keep-masks at an exact sparsity: one global threshold (SNIP's choice) or per layer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.pruning.config import check_sparsity

Scope = Literal["global", "layer"]

__all__ = ["check_sparsity", "global_masks", "layerwise_masks", "make_masks", "mask_hash", "mask_sparsity"]


def _num_pruned(total: int, sparsity: float) -> int:
    return min(total, int(round(sparsity * total)))


def _keep_top(flat: Tensor, num_pruned: int) -> Tensor:
    """Boolean mask keeping exactly ``len(flat) - num_pruned`` largest entries (ties broken by position)."""
    n = flat.numel()
    keep = torch.ones(n, dtype=torch.bool)
    if num_pruned <= 0:
        return keep
    # a stable sort makes tie-breaking deterministic (the earlier entry is pruned first)
    order = torch.sort(flat, stable=True).indices
    keep[order[:num_pruned]] = False
    return keep


def _check_scores(scores: Mapping[str, Tensor]) -> None:
    if not scores:
        raise HfnetError("no scores given: the model has no prunable weights")
    for name, s in scores.items():
        if not torch.isfinite(s).all():
            raise HfnetError(f"scores of {name} contain NaN or inf; check the calibration data and the model")


def global_masks(scores: Mapping[str, Tensor], sparsity: float) -> dict[str, Tensor]:
    """Keep the top ``1 - sparsity`` of all prunable weights by score, one threshold across layers.

    Exactly ``round(sparsity * total)`` weights are pruned (ties at the threshold broken deterministically).
    """
    sparsity = check_sparsity(sparsity)
    _check_scores(scores)
    names = list(scores)
    flat = torch.cat([scores[n].detach().reshape(-1).float().cpu() for n in names])
    keep = _keep_top(flat, _num_pruned(flat.numel(), sparsity))
    out, offset = {}, 0
    for n in names:
        k = scores[n].numel()
        out[n] = keep[offset : offset + k].view(scores[n].shape)
        offset += k
    return out


def layerwise_masks(scores: Mapping[str, Tensor], sparsity: float) -> dict[str, Tensor]:
    """Prune ``round(sparsity * n)`` weights of every tensor separately (uniform per-layer sparsity)."""
    sparsity = check_sparsity(sparsity)
    _check_scores(scores)
    return {
        n: _keep_top(s.detach().reshape(-1).float().cpu(), _num_pruned(s.numel(), sparsity)).view(s.shape)
        for n, s in scores.items()
    }


def make_masks(scores: Mapping[str, Tensor], sparsity: float, scope: Scope = "global") -> dict[str, Tensor]:
    """``global_masks`` or ``layerwise_masks`` by ``scope``."""
    if scope == "global":
        return global_masks(scores, sparsity)
    if scope == "layer":
        return layerwise_masks(scores, sparsity)
    raise HfnetError(f"scope must be 'global' or 'layer', got {scope!r}")


def mask_sparsity(masks: Mapping[str, Tensor]) -> float:
    """Fraction of masked (pruned) entries over all masked tensors."""
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / max(total, 1)


def mask_hash(masks: Mapping[str, Tensor]) -> str:
    """sha256 of the names and bits of a mask dict: compare masks across runs and processes."""
    h = hashlib.sha256()
    for name in sorted(masks):
        h.update(name.encode())
        h.update(masks[name].to(torch.uint8).cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
