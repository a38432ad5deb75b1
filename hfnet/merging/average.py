"""Weighted average of same-shaped tensors ("model soup", Wortsman et al. 2022, https://arxiv.org/abs/2203.05482).

The merge the seed paper uses: two CNNs trained on different datasets, averaged weight by weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method


@register_merge_method("average", summary="weighted mean of the models' tensors (weights normalised to sum to 1)")
def average_merge(tensors: Sequence[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    """``sum_i w_i * t_i / sum_i w_i``; equal weights when ``weights`` is None. Computed in float32, returned in the
    first tensor's dtype."""
    if len(tensors) == 0:
        raise HfnetError("average_merge needs at least one tensor")
    w = check_weights(weights, len(tensors)) or [1.0] * len(tensors)
    total = sum(w)
    if total == 0:
        raise HfnetError("merge weights sum to 0; give weights with a non-zero sum")
    out = torch.zeros(tensors[0].shape, dtype=torch.float32)
    for wi, t in zip(w, tensors):
        out.add_(t.to(torch.float32), alpha=wi / total)
    return out.to(tensors[0].dtype)
