"""NLEEP, Gaussian-mixture LEEP (Li, Jia, Zhou, Shi, Cottrell, Zhu, CVPR 2021, "Ranking neural checkpoints",
https://arxiv.org/abs/2011.11200)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._linalg import class_sums
from hfnet.ranking._validate import as_features, as_labels, dense_labels


def nleep(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    components_per_class: int = 5,
    variance: float = 0.8,
    seed: int = 0,
    log: bool = True,
) -> float:
    """LEEP with the source head replaced by a Gaussian mixture fitted on the features (higher = more transferable).

    The features are reduced by PCA to the components that keep ``variance`` of their energy, a full-covariance
    Gaussian mixture of ``components_per_class x K`` components is fitted on them, and its posteriors
    ``p(z | x_i)`` play the role of the source softmax in LEEP: ``(1/N) sum_i log sum_z P(y_i | z) p(z | x_i)``.
    Defaults are the paper's (80 % variance, 5 components per class). Any classifier can be scored, source head or
    not. The reference code the SFDA authors distribute averages ``P(y_i | x_i)`` without the log (``log=False``).

    The mixture is fitted with a fixed ``seed`` on the samples sorted into a canonical order, so the score does not
    depend on the order of the samples.

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        components_per_class: mixture components per target class (clipped to N).
        variance: fraction of the PCA energy kept.
        seed: seed of the mixture's k-means initialisation.
        log: average log-probabilities (paper) or probabilities (reference code).
    """
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n = f.shape[0]
    order = np.lexsort(f.T[::-1])
    f, y = f[order], y[order]
    k = int(y.max()) + 1
    reduced = PCA(n_components=variance, svd_solver="full").fit_transform(f)
    components = max(1, min(components_per_class * k, n))
    gmm = GaussianMixture(n_components=components, random_state=seed).fit(reduced)
    posterior = gmm.predict_proba(reduced)
    joint = class_sums(posterior, y, k) / n
    marginal = joint.sum(axis=0, keepdims=True)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    eep = np.einsum("iz,iz->i", posterior, conditional[y])
    return float(np.mean(np.log(np.maximum(eep, 1e-300))) if log else np.mean(eep))
