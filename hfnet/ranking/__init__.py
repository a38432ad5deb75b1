"""Rank candidate pretrained classifiers for a labelled target dataset before fine-tuning any of them.

Scores (each a pure function of arrays, one file per family): softmax-max and word-vector EMD (seed 003), LEEP, NCE,
H-score (plain and shrinkage), LogME, NLEEP, SFDA, PARC, TransRate, leave-one-out k-NN, and hfnet's semantic LogME.
:func:`rank_models` runs one forward pass per candidate and computes every requested score from its logits and
penultimate features; :func:`rank_job` is the job behind ``hfnet rank`` (config, search, cache, processes).
"""

from hfnet.ranking.config import RankingConfig
from hfnet.ranking.emd import word_vector_emd, word_vector_emd_mean
from hfnet.ranking.hscore import h_score, shrinkage_h_score
from hfnet.ranking.job import RankingResult, rank_job
from hfnet.ranking.knn import knn_accuracy
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import logme
from hfnet.ranking.metrics import DEFAULT_METRICS, METRICS, Metric, ScoreInputs, get_metrics
from hfnet.ranking.nce import nce
from hfnet.ranking.nleep import nleep
from hfnet.ranking.parc import parc
from hfnet.ranking.ranker import CandidateResult, Ranking, forward_outputs, rank_models
from hfnet.ranking.search import SearchResult, format_search, search_hub
from hfnet.ranking.semantic import semantic_logme
from hfnet.ranking.sfda import sfda
from hfnet.ranking.softmax_max import softmax, softmax_max, softmax_max_mean
from hfnet.ranking.transrate import transrate
from hfnet.ranking.word_vectors import ClassVectors, class_distances, class_vectors, load_class_map, load_word_vectors

__all__ = [
    "RankingConfig",
    "RankingResult",
    "SearchResult",
    "format_search",
    "knn_accuracy",
    "nleep",
    "parc",
    "rank_job",
    "search_hub",
    "semantic_logme",
    "sfda",
    "shrinkage_h_score",
    "transrate",
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
