"""H-score (Bao, Li, Huang, Liu, Zheng, ICIP 2019, https://ieeexplore.ieee.org/document/8803726)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._validate import as_features, as_labels, dense_labels


def _covariance(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0, keepdims=True)
    return centred.T @ centred / max(len(x) - 1, 1)


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """``tr(cov(f)^+ cov(E[f | y]))`` (higher = more transferable).

    The between-class covariance of the penultimate features (each sample replaced by its class mean) measured in
    the metric of their total covariance; ``^+`` is the pseudo-inverse, so rank-deficient features (N < D) work.

    Args:
        features: ``[N, D]`` penultimate features of the candidate on the target images.
        labels: ``[N]`` target class indices.
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    k = int(y.max()) + 1
    sums = np.zeros((k, f.shape[1]))
    np.add.at(sums, y, f)
    means = sums / np.bincount(y, minlength=k)[:, None]
    cov_f = _covariance(f)
    cov_g = _covariance(means[y])
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))
