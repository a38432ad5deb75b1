"""Single-shot pruning of pretrained classifiers (SNIP, ReFer, AFR + random / magnitude baselines).

Three steps with plain data between them: :mod:`~hfnet.pruning.scores` (name -> score tensor),
:mod:`~hfnet.pruning.masks` (name -> bool keep-mask), :mod:`~hfnet.pruning.apply` (zero in place, keep fixed
through ``Trainer`` fine-tuning, export a plain checkpoint). :mod:`~hfnet.pruning.structured` removes whole attention
heads and MLP neurons instead, giving a smaller, faster checkpoint.
"""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "UnitLayout": "hfnet.pruning.structured",
    "unit_layout": "hfnet.pruning.structured",
    "unit_scores": "hfnet.pruning.structured",
    "unit_masks": "hfnet.pruning.structured",
    "structured_masks": "hfnet.pruning.structured",
    "choose_unit_counts": "hfnet.pruning.structured",
    "build_pruned_model": "hfnet.pruning.structured",
    "remove_units": "hfnet.pruning.structured",
    "measure_latency": "hfnet.pruning.structured",
    "PruningConfig": "hfnet.pruning.config",
    "PruneArguments": "hfnet.pruning.config",
    "run_prune_job": "hfnet.pruning.job",
    "run_pruning": "hfnet.pruning.pipeline",
    "MaskCallback": "hfnet.pruning.apply",
    "MaskedWeights": "hfnet.pruning.apply",
    "SCORE_FUNCTIONS": "hfnet.pruning.scores",
    "SparsityReport": "hfnet.pruning.apply",
    "afr_scores": "hfnet.pruning.scores",
    "apply_masks": "hfnet.pruning.apply",
    "compute_scores": "hfnet.pruning.scores",
    "global_masks": "hfnet.pruning.masks",
    "layerwise_masks": "hfnet.pruning.masks",
    "magnitude_scores": "hfnet.pruning.scores",
    "make_masks": "hfnet.pruning.masks",
    "mask_hash": "hfnet.pruning.masks",
    "mask_sparsity": "hfnet.pruning.masks",
    "prunable_parameters": "hfnet.pruning.scores",
    "random_scores": "hfnet.pruning.scores",
    "refer_scores": "hfnet.pruning.scores",
    "snip_scores": "hfnet.pruning.scores",
    "sparsity_report": "hfnet.pruning.apply",
    "standardize": "hfnet.pruning.scores",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
