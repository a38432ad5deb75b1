"""Filter similarity between models' convolution layers (seeds 000 and 001) and plots."""

from hfnet.analysis.filters import (
    FilterComparison,
    best_match_order,
    binarise,
    compare_filters,
    conv_layers,
    cosine_matrix,
    euclidean_matrix,
    get_conv_weight,
    min_distances,
    random_like,
    single_channel_filters,
    whole_filters,
)
from hfnet.analysis.plots import plot_comparison, plot_summary

__all__ = [
    "FilterComparison",
    "best_match_order",
    "binarise",
    "compare_filters",
    "conv_layers",
    "cosine_matrix",
    "euclidean_matrix",
    "get_conv_weight",
    "min_distances",
    "plot_comparison",
    "plot_summary",
    "random_like",
    "single_channel_filters",
    "whole_filters",
]
