"""Merge same-architecture models (average, task arithmetic, TIES, SLERP) with optional permutation alignment."""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "AlignmentResult": "hfnet.merging.align",
    "MERGE_METHODS": "hfnet.merging.registry",
    "MergeConfig": "hfnet.merging.config",
    "MergeMethod": "hfnet.merging.registry",
    "MergeReport": "hfnet.merging.merge",
    "PermutationSpec": "hfnet.merging.permutations",
    "apply_permutation": "hfnet.merging.permutations",
    "average_merge": "hfnet.merging.average",
    "classifier_permutation_spec": "hfnet.merging.permutations",
    "get_merge_method": "hfnet.merging.registry",
    "merge_models": "hfnet.merging.merge",
    "permutation_spec": "hfnet.merging.permutations",
    "random_permutation": "hfnet.merging.permutations",
    "recompute_batchnorm": "hfnet.merging.batchnorm",
    "register_merge_method": "hfnet.merging.registry",
    "slerp_merge": "hfnet.merging.slerp",
    "task_arithmetic_merge": "hfnet.merging.task_arithmetic",
    "ties_merge": "hfnet.merging.ties",
    "weight_matching": "hfnet.merging.align",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
