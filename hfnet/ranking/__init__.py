"""Rank candidate pretrained classifiers for a labelled target dataset before fine-tuning any of them.

Scores (each a pure function of arrays, one file per family): softmax-max and word-vector EMD (seed 003), LEEP, NCE,
H-score (plain and shrinkage), LogME, NLEEP, SFDA, PARC, TransRate, leave-one-out k-NN, NCTI, ETran, hfnet's
semantic LogME, and hfnet's pre-registered ``recommended`` rank combination (the default sort and pick).
:func:`rank_models` runs one forward pass per candidate and computes every requested score from its logits and
penultimate features; :func:`rank_job` is the job behind ``hfnet rank`` (config, search, cache, processes).
"""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "energy_score": "hfnet.ranking.etran",
    "etran": "hfnet.ranking.etran",
    "finalise": "hfnet.ranking.ranker",
    "lda_score": "hfnet.ranking.etran",
    "ncti": "hfnet.ranking.ncti",
    "ncti_terms": "hfnet.ranking.ncti",
    "recommended_scores": "hfnet.ranking.recommended",
    "reported_info": "hfnet.ranking.reported",
    "CandidateResult": "hfnet.ranking.ranker",
    "ClassVectors": "hfnet.ranking.word_vectors",
    "DEFAULT_METRICS": "hfnet.ranking.metrics",
    "METRICS": "hfnet.ranking.metrics",
    "Metric": "hfnet.ranking.metrics",
    "Ranking": "hfnet.ranking.ranker",
    "RankingConfig": "hfnet.ranking.config",
    "RankingResult": "hfnet.ranking.job",
    "ScoreInputs": "hfnet.ranking.metrics",
    "SearchResult": "hfnet.ranking.search",
    "class_distances": "hfnet.ranking.word_vectors",
    "class_vectors": "hfnet.ranking.word_vectors",
    "format_search": "hfnet.ranking.search",
    "forward_outputs": "hfnet.ranking.ranker",
    "get_metrics": "hfnet.ranking.metrics",
    "h_score": "hfnet.ranking.hscore",
    "knn_accuracy": "hfnet.ranking.knn",
    "leep": "hfnet.ranking.leep",
    "load_class_map": "hfnet.ranking.word_vectors",
    "load_word_vectors": "hfnet.ranking.word_vectors",
    "logme": "hfnet.ranking.logme",
    "nce": "hfnet.ranking.nce",
    "nleep": "hfnet.ranking.nleep",
    "parc": "hfnet.ranking.parc",
    "rank_job": "hfnet.ranking.job",
    "rank_models": "hfnet.ranking.ranker",
    "search_hub": "hfnet.ranking.search",
    "semantic_logme": "hfnet.ranking.semantic",
    "sfda": "hfnet.ranking.sfda",
    "shrinkage_h_score": "hfnet.ranking.hscore",
    "softmax": "hfnet.ranking.softmax_max",
    "softmax_max": "hfnet.ranking.softmax_max",
    "softmax_max_mean": "hfnet.ranking.softmax_max",
    "transrate": "hfnet.ranking.transrate",
    "word_vector_emd": "hfnet.ranking.emd",
    "word_vector_emd_mean": "hfnet.ranking.emd",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
