"""Rank candidate pretrained classifiers for a labelled target dataset before fine-tuning any of them.

Scores (each a pure function of arrays, one file per family): softmax-max and word-vector EMD (seed 003), LEEP, NCE,
H-score and LogME. :func:`rank_models` runs one forward pass per candidate and computes every requested score from
its logits and penultimate features.
"""

from hfnet.ranking.emd import word_vector_emd, word_vector_emd_mean
from hfnet.ranking.hscore import h_score
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import logme
from hfnet.ranking.metrics import DEFAULT_METRICS, METRICS, Metric, ScoreInputs, get_metrics
from hfnet.ranking.nce import nce
from hfnet.ranking.ranker import CandidateResult, Ranking, forward_outputs, rank_models
from hfnet.ranking.softmax_max import softmax, softmax_max, softmax_max_mean
from hfnet.ranking.word_vectors import ClassVectors, class_distances, class_vectors, load_class_map, load_word_vectors

__all__ = [
    "CandidateResult",
    "ClassVectors",
    "Ranking",
    "class_distances",
    "class_vectors",
    "forward_outputs",
    "load_class_map",
    "load_word_vectors",
    "rank_models",
    "DEFAULT_METRICS",
    "METRICS",
    "Metric",
    "ScoreInputs",
    "get_metrics",
    "h_score",
    "leep",
    "logme",
    "nce",
    "softmax",
    "softmax_max",
    "softmax_max_mean",
    "word_vector_emd",
    "word_vector_emd_mean",
]
