"""LEEP, the log expected empirical prediction (Nguyen, Hassner, Seeger, Archambeau, ICML 2020,
https://arxiv.org/abs/2002.12462)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._linalg import class_sums
from hfnet.ranking._validate import as_labels, as_probabilities, dense_labels


def leep(probs: np.ndarray, labels: np.ndarray) -> float:
    """``(1/N) sum_i log sum_z P(y_i | z) theta(x_i)_z`` (higher = more transferable, at most 0).

    The empirical joint ``P(y, z) = (1/N) sum_{i: y_i = y} theta(x_i)_z`` of target label y and source class z
    gives the conditional ``P(y | z) = P(y, z) / P(z)``: the "expected empirical predictor" built from the source
    head without any training.

    Args:
        probs: ``[N, n_s]`` source softmax outputs theta(x_i).
        labels: ``[N]`` target class indices.
    """
    p = as_probabilities(probs)
    y = dense_labels(as_labels(labels, p.shape[0]))
    n, k = p.shape[0], int(y.max()) + 1
    joint = class_sums(p, y, k) / n
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    eep = np.einsum("iz,iz->i", p, conditional[y])
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))
