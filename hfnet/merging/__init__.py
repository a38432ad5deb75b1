"""Merge same-architecture models (average, task arithmetic, TIES, SLERP) with optional permutation alignment."""

from hfnet.merging.align import (
    AlignmentResult,
    PermutationSpec,
    apply_permutation,
    classifier_permutation_spec,
    permutation_spec,
    random_permutation,
    weight_matching,
)
from hfnet.merging.average import average_merge
from hfnet.merging.batchnorm import recompute_batchnorm
from hfnet.merging.merge import MergeReport, merge_models
from hfnet.merging.registry import MERGE_METHODS, MergeMethod, get_merge_method, register_merge_method
from hfnet.merging.slerp import slerp_merge
from hfnet.merging.task_arithmetic import task_arithmetic_merge
from hfnet.merging.ties import ties_merge

__all__ = [
    "MERGE_METHODS",
    "AlignmentResult",
    "MergeMethod",
    "MergeReport",
    "PermutationSpec",
    "apply_permutation",
    "average_merge",
    "classifier_permutation_spec",
    "get_merge_method",
    "merge_models",
    "permutation_spec",
    "random_permutation",
    "recompute_batchnorm",
    "register_merge_method",
    "slerp_merge",
    "task_arithmetic_merge",
    "ties_merge",
    "weight_matching",
]
