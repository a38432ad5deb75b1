"""Single-shot pruning of pretrained classifiers (SNIP, ReFer, AFR + random / magnitude baselines).

Three steps with plain data between them: :mod:`~hfnet.pruning.scores` (name -> score tensor),
:mod:`~hfnet.pruning.masks` (name -> bool keep-mask), :mod:`~hfnet.pruning.apply` (zero in place, keep fixed
through ``Trainer`` fine-tuning, export a plain checkpoint).
"""

from hfnet.pruning.apply import MaskCallback, MaskedWeights, SparsityReport, apply_masks, sparsity_report
from hfnet.pruning.masks import global_masks, layerwise_masks, make_masks, mask_hash, mask_sparsity
from hfnet.pruning.scores import (
    SCORE_FUNCTIONS,
    afr_scores,
    compute_scores,
    magnitude_scores,
    prunable_parameters,
    random_scores,
    refer_scores,
    snip_scores,
    standardize,
)

__all__ = [
    "SCORE_FUNCTIONS",
    "MaskCallback",
    "MaskedWeights",
    "SparsityReport",
    "afr_scores",
    "apply_masks",
    "compute_scores",
    "global_masks",
    "layerwise_masks",
    "magnitude_scores",
    "make_masks",
    "mask_hash",
    "mask_sparsity",
    "prunable_parameters",
    "random_scores",
    "refer_scores",
    "snip_scores",
    "sparsity_report",
    "standardize",
]
