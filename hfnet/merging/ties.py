"""TIES-merging (Yadav et al. 2023, https://arxiv.org/abs/2306.01708): trim, elect sign, disjoint mean.

Trimming keeps the ``density`` fraction of largest-magnitude entries of each task vector. The paper's task vector is
the whole model (one threshold per model over all its tensors: ``trim="model"``); mergekit trims every tensor
separately (``trim="tensor"``, the default, which needs no pass over the whole model). :func:`merge_models` computes
the per-model thresholds of ``trim="model"`` in a first streaming pass (:func:`model_trim_threshold`).

Small departures from mergekit's per-tensor ``magnitude`` sparsification, stated so results can be compared: hfnet
keeps ``round(density * n)`` entries where mergekit keeps ``int(density * n)``; entries tied at the threshold are
all dropped here (mergekit's ``topk`` keeps exactly ``k``, ties broken by index); and where the weighted sum of the
trimmed task vectors is exactly 0 the elected sign is 0 (the paper's ``sgn``) and the entry stays at the base,
where mergekit elects ``+``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging.registry import check_weights, register_merge_method
from hfnet.merging.task_arithmetic import task_vectors

Trim = Literal["tensor", "model"]


def _check_density(density: float) -> None:
    if not 0.0 < density <= 1.0:
        raise HfnetError(f"TIES density must be in (0, 1], got {density}")


def _threshold(magnitudes: Tensor, density: float) -> float:
    """The magnitude above which exactly ``round(density * n)`` of ``n`` entries lie (ties at it are dropped)."""
    n = magnitudes.numel()
    k = int(round(density * n))
    if k >= n:
        return -1.0  # keep everything (even zeros)
    if k == 0:
        return float("inf")
    return float(magnitudes.flatten().kthvalue(n - k).values)


def trim_to_density(tau: Tensor, density: float, threshold: float | None = None) -> Tensor:
    """Keep the entries of ``tau`` whose magnitude is above the trim threshold, zero the rest.

    Args:
        density: fraction of entries to keep (used when ``threshold`` is None: this tensor's own threshold).
        threshold: a threshold from elsewhere (the whole task vector, :func:`model_trim_threshold`).
    """
    _check_density(density)
    if threshold is None:
        threshold = _threshold(tau.abs(), density)
    if threshold < 0:
        return tau
    return torch.where(tau.abs() > threshold, tau, torch.zeros_like(tau))


def model_trim_threshold(task_vector: Iterable[Tensor], density: float) -> float:
    """The paper's trim threshold: over all tensors of one model's task vector together (``trim="model"``)."""
    _check_density(density)
    flat = torch.cat([t.detach().to(torch.float32).abs().flatten() for t in task_vector])
    if flat.numel() == 0:
        raise HfnetError("the task vector is empty: nothing to trim")
    return _threshold(flat, density)


@register_merge_method(
    "ties",
    needs_base=True,
    options=("density", "scale", "trim"),
    summary="TIES: trim task vectors to a density, elect the sign per entry, average the agreeing ones",
)
def ties_merge(
    tensors: Sequence[Tensor],
    base: Tensor,
    weights: Sequence[float] | None = None,
    density: float = 0.2,
    scale: float = 1.0,
    trim: Trim = "tensor",
    thresholds: Sequence[float] | None = None,
) -> Tensor:
    """TIES merge of one tensor.

    1. task vectors ``tau_i = t_i - base``, each trimmed to its top-``density`` entries by magnitude (per tensor, or
       with the whole-model ``thresholds`` of ``trim="model"``);
    2. the elected sign per entry is the sign of ``sum_i w_i tau_i`` (``sign(0) = 0``: such entries stay at base);
    3. the merged vector averages (weighted by ``w_i``) only the entries that agree with the elected sign:
       ``sum_i w_i tau_i [agree_i] / sum_i w_i [agree_i]``;
    4. ``base + scale * merged``.

    Args:
        trim: ``"tensor"`` (mergekit: every tensor trimmed to ``density`` on its own) or ``"model"`` (the paper:
            one threshold per model over its whole task vector; pass ``thresholds``, as :func:`merge_models` does).
        thresholds: one trim threshold per model (from :func:`model_trim_threshold`); required for ``"model"``.
    """
    if trim not in ("tensor", "model"):
        raise HfnetError(f"TIES trim must be 'tensor' (per tensor, as mergekit) or 'model' (the paper), got {trim!r}")
    if trim == "model" and thresholds is None:
        raise HfnetError("TIES trim='model' needs one threshold per model (merge_models computes them)")
    if thresholds is not None and len(thresholds) != len(tensors):
        raise HfnetError(f"{len(thresholds)} trim thresholds for {len(tensors)} models")
    w = check_weights(weights, len(tensors)) or [1.0] * len(tensors)
    th = list(thresholds) if trim == "model" else [None] * len(tensors)
    taus = torch.stack([wi * trim_to_density(t, density, ti) for wi, t, ti in zip(w, task_vectors(tensors, base), th)])
    sign = torch.sign(taus.sum(dim=0))
    agree = (torch.sign(taus) == sign) & (taus != 0)
    weight_sum = (torch.tensor(w, dtype=torch.float32).view(-1, *[1] * base.dim()) * agree).sum(dim=0)
    merged = (taus * agree).sum(dim=0) / weight_sum.clamp_min(1e-12)
    return (base.to(torch.float32) + scale * merged).to(base.dtype)
