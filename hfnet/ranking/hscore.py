"""H-score (Bao, Li, Huang, Liu, Zheng, ICIP 2019, https://ieeexplore.ieee.org/document/8803726)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._validate import as_features, as_labels, dense_labels


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """``tr(cov(f)^+ cov(E[f | y]))`` (higher = more transferable).

    The between-class covariance of the penultimate features (each sample replaced by its class mean) measured in
    the metric of their total covariance; ``^+`` is the pseudo-inverse, so rank-deficient features (N < D) work.
    Computed from the thin SVD of the centred features (O(N^2 D) instead of a D x D pseudo-inverse), with the same
    cut-off as ``np.linalg.pinv(cov, hermitian=True)``.

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
    centre = f.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(f - centre, full_matrices=False)
    # cov_f = V diag(s^2) V^T / (N-1) and cov_g = G^T G / (N-1), so tr(cov_f^+ cov_g) = sum_j |G v_j|^2 / s_j^2
    keep = s**2 > s.max() ** 2 * f.shape[1] * np.finfo(np.float64).eps
    projected = (means[y] - centre) @ vt[keep].T
    return float(np.sum(projected**2 / s[keep] ** 2))
