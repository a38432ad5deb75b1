"""TIES-merging (Yadav et al. 2023, https://arxiv.org/abs/2306.01708): trim, elect sign, disjoint mean."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method
from hfnet.merging.task_arithmetic import task_vectors


def trim_to_density(tau: Tensor, density: float) -> Tensor:
    """Keep the ``density`` fraction of entries with the largest magnitude, zero the rest."""
    if not 0.0 < density <= 1.0:
        raise HfnetError(f"TIES density must be in (0, 1], got {density}")
    k = int(round(density * tau.numel()))
    if k >= tau.numel():
        return tau
    if k == 0:
        return torch.zeros_like(tau)
    threshold = tau.abs().flatten().kthvalue(tau.numel() - k).values
    return torch.where(tau.abs() > threshold, tau, torch.zeros_like(tau))


@register_merge_method(
    "ties",
    needs_base=True,
    options=("density", "scale"),
    summary="TIES: trim task vectors to a density, elect the sign per entry, average the agreeing ones",
)
def ties_merge(
    tensors: Sequence[Tensor],
    base: Tensor,
    weights: Sequence[float] | None = None,
    density: float = 0.2,
    scale: float = 1.0,
) -> Tensor:
    """TIES merge of one tensor.

    1. task vectors ``tau_i = t_i - base``, each trimmed to its top-``density`` entries by magnitude;
    2. the elected sign per entry is the sign of ``sum_i w_i tau_i``;
    3. the merged vector averages (weighted by ``w_i``) only the entries that agree with the elected sign;
    4. ``base + scale * merged``.
    """
    w = check_weights(weights, len(tensors)) or [1.0] * len(tensors)
    taus = torch.stack([wi * trim_to_density(t, density) for wi, t in zip(w, task_vectors(tensors, base))])
    sign = torch.sign(taus.sum(dim=0))
    agree = (torch.sign(taus) == sign) & (taus != 0)
    weight_sum = (torch.tensor(w, dtype=torch.float32).view(-1, *[1] * base.dim()) * agree).sum(dim=0)
    merged = (taus * agree).sum(dim=0) / weight_sum.clamp_min(1e-12)
    return (base.to(torch.float32) + scale * merged).to(base.dtype)
