"""hfnet's recommended score: one rank combination of complementary scores, fixed before it was run on the held-out
targets of ``benchmarks/ranking`` (README, ranking section, names the commit).

Rule (``RULE``, the same words in the README):

    For each of the components LogME (evidence of a linear model on the features), LEEP (how the source head's
    predictions transfer to the target labels), NCTI (distance to neural collapse) and the source accuracy the
    candidate reports about itself (its card's model-index, or what the caller passes), rank the candidates
    (1 = best, ties share the mean rank). A candidate without a value for a component ranks last (tied) there; a
    component no candidate has is left out. The recommended score is the mean of the candidate's component ranks
    (lower = better); ties go to the better LogME rank.

Why these and nothing tuned: each component reads something the others do not (the features' linear evidence, the
source head, class geometry, the model's provenance), a mean of ranks needs no scale or weight, and it is a rank
combination, so it depends on the candidate set (as NCTI does): the table and JSON say so. Every component is
cheap (one pass over the features; no mixture or k-NN fit), so the recommended score costs a few percent of the
forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

COMPONENTS = ("logme", "leep", "ncti", "source_accuracy")
RULE = (
    "mean of the candidate's ranks under logme, leep, ncti and its reported source accuracy (ties share the mean "
    "rank; a missing value ranks last; a component no candidate has is left out; lower = better, ties to logme)"
)


def mean_ranks(values: Sequence[float | None]) -> np.ndarray:
    """Ranks of ``values`` (1 = highest; ties share their mean rank; None / non-finite share the last ranks)."""
    from scipy.stats import rankdata

    x = np.array([-v if v is not None and np.isfinite(v) else np.inf for v in values], dtype=np.float64)
    return rankdata(x, method="average")


def recommended_scores(components: dict[str, Sequence[float | None]]) -> tuple[list[float], list[str]]:
    """Each candidate's mean component rank, and the components used (those at least one candidate has).

    ``components`` maps a component name to one value per candidate (higher = better; None when absent).
    """
    used = [name for name, values in components.items() if any(v is not None and np.isfinite(v) for v in values)]
    if not used:
        return [], []
    ranks = np.stack([mean_ranks(components[name]) for name in used])
    return [float(v) for v in ranks.mean(axis=0)], used
