"""Permutation alignment by weight matching (Git Re-Basin, Ainsworth et al. 2023, https://arxiv.org/abs/2209.04836).

Two independently trained networks learn similar features in a seed-dependent order (what seed 000 observes in its
filter matrices), so averaging them unit by unit mixes unrelated features. Weight matching permutes model B's units
so that its weights are as close as possible to model A's, layer by layer, before merging. The permutation
structure comes from :mod:`hfnet.merging.permutations` (traced from the model's graph).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from tqdm.auto import tqdm

from hfnet.merging.permutations import PermutationSpec, apply_permutation, permutation_spec, permute_tensor

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- weight matching
def _flat_along(tensor: Tensor, dim: int, factor: int) -> Tensor:
    t = tensor.to(torch.float32)
    if factor > 1:
        shape = t.shape
        t = t.reshape(*shape[:dim], -1, factor, *shape[dim + 1 :])
    return t.movedim(dim, 0).reshape(t.shape[dim], -1)


@dataclass
class AlignmentResult:
    """Permutations mapping model B onto model A, and how well they match."""

    perms: dict[int, Tensor]
    spec: PermutationSpec
    iterations: int
    similarity_before: float
    similarity_after: float


def weight_matching(
    spec: PermutationSpec,
    state_a: dict[str, Tensor],
    state_b: dict[str, Tensor],
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> AlignmentResult:
    """Find permutations of B's channels maximising ``sum_layers <W_A, P W_B P'^T>`` (Git Re-Basin, Algorithm 1).

    Coordinate descent: each permutation in turn is solved exactly as a linear assignment problem with the others
    held fixed, until no permutation changes. Tensors missing from either model or with different shapes (heads for
    different label sets) are left out of the objective; integer buffers are ignored.
    """

    usable = {
        name
        for name in spec.axes
        if name in state_a
        and name in state_b
        and state_a[name].shape == state_b[name].shape
        and state_a[name].is_floating_point()
        and not name.endswith(("running_mean", "running_var"))
    }
    perms = {pid: torch.arange(n) for pid, n in spec.sizes.items()}
    by_perm = {pid: [t for t in spec.tensors_of(pid) if t[0] in usable] for pid in spec.sizes}
    rng = np.random.default_rng(seed)

    def total_similarity() -> float:
        return float(
            sum(
                (state_a[n].to(torch.float32) * permute_tensor(n, state_b[n], spec, perms).to(torch.float32)).sum()
                for n in usable
            )
        )

    before = total_similarity()
    iterations = 0
    sweeps = tqdm(total=max_iter, desc="weight matching", unit="sweep", leave=False)
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported below
        sweeps.update(1)
        changed = False
        for pid in rng.permutation(list(spec.sizes)):
            changed |= _improve_permutation(int(pid), spec, state_a, state_b, perms, by_perm[int(pid)])
        if not changed:
            break
    sweeps.close()
    after = total_similarity()
    return AlignmentResult(perms, spec, iterations, before, after)


def _improve_permutation(pid: int, spec: PermutationSpec, state_a, state_b, perms, tensors) -> bool:
    """Solve permutation ``pid`` exactly (linear assignment) with the others fixed; keep it only if it raises the
    similarity. Returns whether it changed."""
    if not tensors:
        return False
    n = spec.sizes[pid]
    cost = torch.zeros(n, n)
    for name, dim, factor in tensors:
        wa = _flat_along(state_a[name], dim, factor)
        wb = _flat_along(permute_tensor(name, state_b[name], spec, perms, skip=pid), dim, factor)
        cost += wa @ wb.T
    _, cols = linear_sum_assignment(cost.numpy(), maximize=True)
    new = torch.as_tensor(cols, dtype=torch.long)
    old_score = cost[torch.arange(n), perms[pid]].sum()
    new_score = cost[torch.arange(n), new].sum()
    if new_score > old_score + 1e-9 * abs(float(old_score)) + 1e-12:
        perms[pid] = new
        return True
    return False


def align_state_dict(
    model: nn.Module,
    state_a: dict[str, Tensor],
    state_b: dict[str, Tensor],
    example_input: Tensor,
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[dict[str, Tensor], AlignmentResult]:
    """Permute ``state_b`` (same architecture as ``model``) to match ``state_a``; returns it and the alignment."""
    spec = permutation_spec(model, example_input)
    result = weight_matching(spec, state_a, state_b, max_iter=max_iter, seed=seed)
    return apply_permutation(state_b, spec, result.perms), result
