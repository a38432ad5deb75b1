"""TransRate (Huang, Huang, Ma, Zhang, Huang, ICML 2022, "Frustratingly easy transferability estimation",
https://arxiv.org/abs/2106.09362)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._validate import as_features, as_labels, dense_labels


def coding_rate(z: np.ndarray, eps: float = 1e-4) -> float:
    """``R(Z, eps) = 1/2 logdet(I_D + Z^T Z / (n eps))`` (Ma et al. 2007), via the smaller of the two Gram matrices."""
    n, d = z.shape
    gram = z @ z.T if n < d else z.T @ z
    _, logdet = np.linalg.slogdet(np.eye(gram.shape[0]) + gram / (n * eps))
    return 0.5 * float(logdet)


def transrate(features: np.ndarray, labels: np.ndarray, *, eps: float = 1e-4) -> float:
    """``R(Z, eps) - (1/K) sum_c R(Z_c, eps)``: mutual information of features and labels as a coding rate.

    The rate of the centred features minus the mean rate of each class's features (higher = more transferable):
    features that spread overall but compress within classes transfer well. As in the authors' code, each class's
    rate uses its own sample count, the centring is by the overall mean only, and ``eps = 1e-4``; the score
    depends on the features' scale (the authors pass raw penultimate features, so does hfnet).

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        eps: distortion of the coding rate.
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    z = f - f.mean(axis=0, keepdims=True)
    k = int(y.max()) + 1
    within = sum(coding_rate(z[y == c], eps) for c in range(k))
    return coding_rate(z, eps) - within / k
