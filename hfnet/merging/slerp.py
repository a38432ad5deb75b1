"""Spherical linear interpolation of two models (Shoemake 1985; as used for model merging by mergekit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method


@register_merge_method(
    "slerp",
    max_models=2,
    options=("t",),
    summary="spherical interpolation between two models at fraction t (t=0: first model, t=1: second)",
)
def slerp_merge(
    tensors: Sequence[Tensor], weights: Sequence[float] | None = None, t: float | None = None, eps: float = 1e-6
) -> Tensor:
    """Interpolate along the great circle between the two flattened tensors' directions.

    ``t`` defaults to ``w_1 / (w_0 + w_1)`` when weights are given, else 0.5. Nearly parallel tensors fall back to
    linear interpolation. The norm is interpolated linearly, so ``slerp(a, a) == a``.
    """
    if len(tensors) != 2:
        raise HfnetError(f"SLERP merges exactly two models, got {len(tensors)}")
    w = check_weights(weights, 2)
    if t is None:
        t = 0.5 if w is None else w[1] / (w[0] + w[1])
    if not 0.0 <= t <= 1.0:
        raise HfnetError(f"SLERP t must be in [0, 1], got {t}")
    a, b = (x.to(torch.float32).flatten() for x in tensors)
    na, nb = a.norm(), b.norm()
    if na < eps or nb < eps:
        return ((1 - t) * a + t * b).view(tensors[0].shape).to(tensors[0].dtype)
    ua, ub = a / na, b / nb
    cos = torch.clamp(ua @ ub, -1.0, 1.0).item()
    omega = math.acos(cos)
    if abs(math.sin(omega)) < 1e-4:
        direction = (1 - t) * ua + t * ub
    else:
        direction = (math.sin((1 - t) * omega) * ua + math.sin(t * omega) * ub) / math.sin(omega)
    out = direction * ((1 - t) * na + t * nb)
    return out.view(tensors[0].shape).to(tensors[0].dtype)
