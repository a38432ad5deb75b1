"""Rank candidate pretrained classifiers for a labelled target dataset before fine-tuning any of them.

Scores (each a pure function of arrays, one file per family): softmax-max and word-vector EMD (seed 003), LEEP, NCE,
H-score and LogME. :func:`rank_models` runs one forward pass per candidate and computes every requested score from
its logits and penultimate features.
"""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "CandidateResult": "hfnet.ranking.ranker",
    "ClassVectors": "hfnet.ranking.word_vectors",
    "DEFAULT_METRICS": "hfnet.ranking.metrics",
    "METRICS": "hfnet.ranking.metrics",
    "Metric": "hfnet.ranking.metrics",
    "Ranking": "hfnet.ranking.ranker",
    "ScoreInputs": "hfnet.ranking.metrics",
    "class_distances": "hfnet.ranking.word_vectors",
    "class_vectors": "hfnet.ranking.word_vectors",
    "forward_outputs": "hfnet.ranking.ranker",
    "get_metrics": "hfnet.ranking.metrics",
    "h_score": "hfnet.ranking.hscore",
    "leep": "hfnet.ranking.leep",
    "load_class_map": "hfnet.ranking.word_vectors",
    "load_word_vectors": "hfnet.ranking.word_vectors",
    "logme": "hfnet.ranking.logme",
    "nce": "hfnet.ranking.nce",
    "rank_models": "hfnet.ranking.ranker",
    "softmax": "hfnet.ranking.softmax_max",
    "softmax_max": "hfnet.ranking.softmax_max",
    "softmax_max_mean": "hfnet.ranking.softmax_max",
    "word_vector_emd": "hfnet.ranking.emd",
    "word_vector_emd_mean": "hfnet.ranking.emd",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
