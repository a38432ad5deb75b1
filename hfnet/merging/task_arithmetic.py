"""Task arithmetic (Ilharco et al. 2023, https://arxiv.org/abs/2212.04089): add weighted task vectors to a base."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method


def task_vectors(tensors: Sequence[Tensor], base: Tensor) -> list[Tensor]:
    """``t_i - base`` in float32 for every fine-tuned tensor."""
    if base is None:
        raise HfnetError("this merge method needs a base model (--base): the model the others were fine-tuned from")
    b = base.to(torch.float32)
    return [t.to(torch.float32) - b for t in tensors]


@register_merge_method(
    "task_arithmetic",
    needs_base=True,
    options=("scale",),
    summary="base + scale * sum_i w_i (model_i - base)",
)
def task_arithmetic_merge(
    tensors: Sequence[Tensor], base: Tensor, weights: Sequence[float] | None = None, scale: float = 1.0
) -> Tensor:
    """``base + scale * sum_i w_i * (t_i - base)`` with ``w_i = 1`` by default (the paper's lambda is ``scale``)."""
    w = check_weights(weights, len(tensors)) or [1.0] * len(tensors)
    taus = task_vectors(tensors, base)
    merged = torch.zeros(base.shape, dtype=torch.float32)
    for wi, tau in zip(w, taus):
        merged.add_(tau, alpha=wi)
    return (base.to(torch.float32) + scale * merged).to(base.dtype)
