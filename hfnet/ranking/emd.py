"""Word-vector EMD between a candidate's softmax output and the one-hot target label (seed 003, section 3.2).

With ``d`` the ``n_s x n_t`` matrix of Euclidean distances between the word vectors of the source and the target
class names, all the mass of the one-hot target sits on one class ``t_i``, so the optimal transport moves every
source class's mass ``f(x_i)_k`` to it: the EMD is exactly ``f(x_i)^T d[:, t_i]`` (no LP needed).
"""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._validate import as_labels, as_probabilities


def _per_sample(probs: np.ndarray, labels: np.ndarray, distances: np.ndarray) -> np.ndarray:
    p = as_probabilities(probs)
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != p.shape[1]:
        raise HfnetError(
            f"distances must be [n_source={p.shape[1]}, n_target] (source x target classes), got shape {d.shape}"
        )
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise HfnetError("distances must be finite and non-negative")
    y = as_labels(labels, p.shape[0], d.shape[1])
    return np.einsum("ik,ki->i", p, d[:, y])


def word_vector_emd(probs: np.ndarray, labels: np.ndarray, distances: np.ndarray) -> float:
    """``sum_i f(x_i)^T d[:, t_i]`` (lower = more transferable).

    Args:
        probs: ``[N, n_s]`` softmax outputs of the candidate on the target images.
        labels: ``[N]`` target class indices ``t_i``.
        distances: ``[n_s, n_t]`` distances between source and target class-name vectors
            (:func:`hfnet.ranking.word_vectors.class_distances`).
    """
    return float(_per_sample(probs, labels, distances).sum())


def word_vector_emd_mean(probs: np.ndarray, labels: np.ndarray, distances: np.ndarray) -> float:
    """:func:`word_vector_emd` divided by N, comparable across sample counts."""
    return float(_per_sample(probs, labels, distances).mean())
