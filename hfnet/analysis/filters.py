"""Compare two models' convolution filters (seeds 000 and 001).

Seed 000 splits a conv kernel ``[C_out, C_in, k, k]`` into ``C_out * C_in`` single-channel ``k x k`` filters (filter
``o * C_in + i`` is output channel ``o`` reading input channel ``i``), takes the cosine similarity between every filter
of model A and every filter of model B, binarises it at 0.5 and reorders B's columns so that, going through A's
filters in order, each takes its most similar B filter: a diagonal then shows that both models learned similar
filters, in a seed-dependent order. Seed 001 uses the Euclidean distance ``E_ij`` between whole filters and the
dissimilarity ``S_i = min_j E_ij``, with A as the reference and then B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from hfnet.errors import HfnetError

Metric = Literal["cosine", "euclidean"]


def single_channel_filters(weight: Tensor) -> Tensor:
    """``[C_out, C_in, k, k]`` -> ``[C_out * C_in, k * k]``: row ``o * C_in + i`` is output ``o``, input ``i``."""
    if weight.dim() != 4:
        raise HfnetError(f"expected a conv kernel [C_out, C_in, k, k], got shape {list(weight.shape)}")
    return weight.detach().to(torch.float32).reshape(weight.shape[0] * weight.shape[1], -1)


def whole_filters(weight: Tensor) -> Tensor:
    """``[C_out, C_in, k, k]`` -> ``[C_out, C_in * k * k]``: one row per output channel (seed 001's filters)."""
    if weight.dim() != 4:
        raise HfnetError(f"expected a conv kernel [C_out, C_in, k, k], got shape {list(weight.shape)}")
    return weight.detach().to(torch.float32).reshape(weight.shape[0], -1)


def cosine_matrix(a: Tensor, b: Tensor, eps: float = 1e-12) -> Tensor:
    """Cosine similarity between every row of ``a`` [Na, D] and every row of ``b`` [Nb, D]: ``[Na, Nb]``."""
    if a.shape[1] != b.shape[1]:
        raise HfnetError(f"filters of different sizes cannot be compared: {a.shape[1]} vs {b.shape[1]} values")
    an = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    bn = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return an @ bn.T


def euclidean_matrix(a: Tensor, b: Tensor) -> Tensor:
    """``E_ij = ||a_i - b_j||_2``: ``[Na, Nb]``."""
    if a.shape[1] != b.shape[1]:
        raise HfnetError(f"filters of different sizes cannot be compared: {a.shape[1]} vs {b.shape[1]} values")
    return torch.cdist(a.double(), b.double()).to(torch.float32)


def binarise(similarity: Tensor, threshold: float = 0.5) -> Tensor:
    """1 where ``similarity > threshold``, else 0 (seed 000 uses 0.5)."""
    return (similarity > threshold).to(torch.uint8)


def best_match_order(similarity: Tensor, *, largest: bool = True) -> Tensor:
    """Column order that puts each row's best still-unused column on the diagonal (greedy, rows in order).

    Going through A's filters (rows) in order, each takes its most similar (``largest``) B filter among those not
    taken yet; B filters left over (when B has more) follow in their original order.
    """
    n_rows, n_cols = similarity.shape
    scores = similarity.clone().to(torch.float64)
    fill = float("-inf") if largest else float("inf")
    taken: list[int] = []
    for i in range(min(n_rows, n_cols)):
        j = int(scores[i].argmax() if largest else scores[i].argmin())
        taken.append(j)
        scores[:, j] = fill
    rest = [j for j in range(n_cols) if j not in set(taken)]
    return torch.tensor(taken + rest, dtype=torch.long)


def min_distances(distance: Tensor) -> tuple[Tensor, Tensor]:
    """``S`` in both directions: ``S_A[i] = min_j E_ij`` (A as reference) and ``S_B[j] = min_i E_ij``."""
    return distance.min(dim=1).values, distance.min(dim=0).values


@dataclass
class FilterComparison:
    """Two conv kernels compared filter by filter.

    Attributes:
        metric: ``cosine`` (single-channel filters, seed 000) or ``euclidean`` (whole filters, seed 001).
        matrix: similarity (cosine) or distance (Euclidean) ``[Na, Nb]``.
        order: column order putting each row's best match on the diagonal.
        threshold: binarisation threshold (cosine).
        s_a / s_b: per-filter best match, A as reference / B as reference (max cosine, or ``S_i = min_j E_ij``).
        summary: headline numbers (see :func:`compare_filters`).
    """

    metric: str
    matrix: Tensor
    order: Tensor
    threshold: float
    s_a: Tensor
    s_b: Tensor
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def reordered(self) -> Tensor:
        return self.matrix[:, self.order]

    @property
    def binary(self) -> Tensor:
        return binarise(self.matrix, self.threshold)

    def to_dict(self, with_matrix: bool = False) -> dict:
        out = {
            "metric": self.metric,
            "shape": list(self.matrix.shape),
            "threshold": self.threshold,
            "summary": self.summary,
            "s_a": self.s_a.tolist(),
            "s_b": self.s_b.tolist(),
            "order": self.order.tolist(),
        }
        if with_matrix:
            out["matrix"] = self.matrix.tolist()
        return out


def compare_filters(
    weight_a: Tensor, weight_b: Tensor, *, metric: Metric = "cosine", threshold: float = 0.5
) -> FilterComparison:
    """Compare two conv kernels of the same filter size.

    Cosine: single-channel filters; summary ``match_fraction`` (fraction of A's filters whose best B filter has
    similarity > threshold), ``diagonal_fraction_raw`` / ``diagonal_fraction_reordered`` (fraction of diagonal
    entries above threshold before / after best-match reordering), ``mean_best``.
    Euclidean: whole filters; summary ``mean_S_a``, ``mean_S_b``, ``diagonal_mean_raw`` (mean ``E_ii``, same order),
    ``mean_E``.
    """
    if metric == "cosine":
        a, b = single_channel_filters(weight_a), single_channel_filters(weight_b)
        matrix = cosine_matrix(a, b)
        order = best_match_order(matrix, largest=True)
        s_a, s_b = matrix.max(dim=1).values, matrix.max(dim=0).values
        n = min(matrix.shape)
        diag_raw = torch.diagonal(matrix)[:n]
        diag_re = torch.diagonal(matrix[:, order])[:n]
        summary = {
            "num_filters_a": float(matrix.shape[0]),
            "num_filters_b": float(matrix.shape[1]),
            "match_fraction": float((s_a > threshold).float().mean()),
            "diagonal_fraction_raw": float((diag_raw > threshold).float().mean()),
            "diagonal_fraction_reordered": float((diag_re > threshold).float().mean()),
            "mean_best": float(s_a.mean()),
            "density": float((matrix > threshold).float().mean()),
        }
    elif metric == "euclidean":
        a, b = whole_filters(weight_a), whole_filters(weight_b)
        matrix = euclidean_matrix(a, b)
        order = best_match_order(matrix, largest=False)
        s_a, s_b = min_distances(matrix)
        n = min(matrix.shape)
        summary = {
            "num_filters_a": float(matrix.shape[0]),
            "num_filters_b": float(matrix.shape[1]),
            "mean_S_a": float(s_a.mean()),
            "mean_S_b": float(s_b.mean()),
            "diagonal_mean_raw": float(torch.diagonal(matrix)[:n].mean()),
            "mean_E": float(matrix.mean()),
        }
    else:
        raise HfnetError(f"unknown filter metric '{metric}'; use cosine or euclidean")
    return FilterComparison(metric, matrix, order, threshold, s_a, s_b, summary)


def random_like(weight: Tensor, seed: int = 0) -> Tensor:
    """Gaussian weights with the shape and overall std of ``weight``: the "untrained" reference for summaries."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(weight.shape, generator=g) * weight.detach().to(torch.float32).std()


def conv_layers(state_dict: dict[str, Tensor]) -> list[str]:
    """Names of the 4-D (conv) weights of a state dict, in its order."""
    return [k for k, v in state_dict.items() if v.dim() == 4 and k.endswith("weight")]


def get_conv_weight(state_dict: dict[str, Tensor], layer: str | None = None) -> tuple[str, Tensor]:
    """The conv kernel ``layer`` (a module or tensor name), or the first conv when ``layer`` is None."""
    convs = conv_layers(state_dict)
    if not convs:
        raise HfnetError("the model has no convolution layers (no 4-D weight tensors) to compare")
    if layer is None:
        return convs[0], state_dict[convs[0]]
    for name in (layer, f"{layer}.weight"):
        if name in convs:
            return name, state_dict[name]
    raise HfnetError(f"no conv layer '{layer}'; conv layers are: {', '.join(convs[:20])}")
