"""Filter similarity between models' convolution layers (seeds 000 and 001) and plots."""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "FilterComparison": "hfnet.analysis.filters",
    "FilterConfig": "hfnet.analysis.config",
    "FilterResult": "hfnet.analysis.compare",
    "best_match_order": "hfnet.analysis.filters",
    "binarise": "hfnet.analysis.filters",
    "compare_filters": "hfnet.analysis.filters",
    "compare_models": "hfnet.analysis.compare",
    "conv_layers": "hfnet.analysis.filters",
    "cosine_matrix": "hfnet.analysis.filters",
    "euclidean_matrix": "hfnet.analysis.filters",
    "get_conv_weight": "hfnet.analysis.filters",
    "min_distances": "hfnet.analysis.filters",
    "plot_comparison": "hfnet.analysis.plots",
    "plot_summary": "hfnet.analysis.plots",
    "random_like": "hfnet.analysis.filters",
    "single_channel_filters": "hfnet.analysis.filters",
    "whole_filters": "hfnet.analysis.filters",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
