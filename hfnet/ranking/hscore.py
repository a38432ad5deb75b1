"""H-score (Bao, Li, Huang, Liu, Zheng, ICIP 2019, https://ieeexplore.ieee.org/document/8803726)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking._validate import as_features, as_labels, dense_labels


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """``tr(cov(f)^+ cov(E[f | y]))`` (higher = more transferable).

    The between-class covariance of the penultimate features (each sample replaced by its class mean) measured in
    the metric of their total covariance; ``^+`` is the pseudo-inverse, so rank-deficient features (N < D) work.
    Computed in the spectrum of the centred features (O(N D min(N, D)) instead of a D x D pseudo-inverse).
    With N <= D (features of full rank) the score is exactly K - 1 for every model: H-score needs N well above D.

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
    centred = f - centre
    sigma, u = left_spectrum(centred)
    # cov_f = V diag(sigma) V^T / (N-1), cov_g = G^T G / (N-1) and v_j = F^T u_j / sqrt(sigma_j), so
    # tr(cov_f^+ cov_g) = sum_j |G v_j|^2 / sigma_j = sum_j |G F^T u_j|^2 / sigma_j^2
    projected = (means[y] - centre) @ (centred.T @ u)
    return float(np.sum(projected**2 / sigma**2))
