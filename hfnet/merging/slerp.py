"""Spherical linear interpolation of two models (Shoemake 1985; as used for model merging by mergekit)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method

SlerpNorm = Literal["mergekit", "interpolate"]

# mergekit's constants (mergekit/merge_methods/slerp.py): colinear above this |cos|, norms below eps not normalised
DOT_THRESHOLD = 0.9995
EPS = 1e-8


@register_merge_method(
    "slerp",
    max_models=2,
    options=("t", "norm"),
    summary="spherical interpolation between two models at fraction t (t=0: first model, t=1: second)",
)
def slerp_merge(
    tensors: Sequence[Tensor],
    weights: Sequence[float] | None = None,
    t: float | None = None,
    norm: SlerpNorm = "mergekit",
) -> Tensor:
    """SLERP of two tensors, flattened: with ``a_hat = a / |a|``, ``b_hat = b / |b|``, ``omega = acos(a_hat . b_hat)``,

    - ``norm="mergekit"`` (default, exactly mergekit's ``slerp``):
      ``sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b``, i.e. the spherical coefficients applied
      to the raw tensors. When ``|a| = |b|`` the result lies on the great circle; when the norms differ it does not
      (its norm is not between ``|a|`` and ``|b|`` in general, and its direction leans towards the larger tensor).
    - ``norm="interpolate"``: the great-circle direction
      ``(sin((1 - t) omega) a_hat + sin(t omega) b_hat) / sin(omega)`` times ``(1 - t) |a| + t |b|``: direction
      and norm interpolated separately. Equal to mergekit's when the norms are equal.

    Both fall back to linear interpolation ``(1 - t) a + t b`` when ``|a_hat . b_hat| > 0.9995`` (nearly colinear,
    mergekit's threshold) and treat tensors with norm ``<= 1e-8`` as unnormalised (mergekit's ``eps``), so
    ``slerp(a, a) == a``. ``t`` defaults to ``w_1 / (w_0 + w_1)`` when weights are given, else 0.5.
    """
    if len(tensors) != 2:
        raise HfnetError(f"SLERP merges exactly two models, got {len(tensors)}")
    if norm not in ("mergekit", "interpolate"):
        raise HfnetError(f"SLERP norm must be 'mergekit' or 'interpolate', got {norm!r}")
    w = check_weights(weights, 2)
    if t is None:
        t = 0.5 if w is None else w[1] / (w[0] + w[1])
    if not 0.0 <= t <= 1.0:
        raise HfnetError(f"SLERP t must be in [0, 1], got {t}")
    a, b = (x.to(torch.float64).flatten() for x in tensors)
    na, nb = float(a.norm()), float(b.norm())
    ua = a / na if na > EPS else a
    ub = b / nb if nb > EPS else b
    dot = float(ua @ ub)
    if abs(dot) > DOT_THRESHOLD:
        out = (1 - t) * a + t * b
    else:
        omega = math.acos(max(-1.0, min(1.0, dot)))
        s0 = math.sin((1 - t) * omega) / math.sin(omega)
        s1 = math.sin(t * omega) / math.sin(omega)
        if norm == "mergekit":
            out = s0 * a + s1 * b
        else:
            out = (s0 * ua + s1 * ub) * ((1 - t) * na + t * nb)
    return out.view(tensors[0].shape).to(tensors[0].dtype)
