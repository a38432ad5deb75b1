"""PARC, Pairwise Annotation Representation Comparison (Bolya, Mittapalli, Hoffman, NeurIPS 2021, "Scalable diverse
model selection for accessible transfer learning", https://arxiv.org/abs/2111.06977)."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._validate import as_features, as_labels, dense_labels


def _pca(f: np.ndarray, dims: int) -> np.ndarray:
    centred = f - f.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :dims] * s[:dims]


def parc(features: np.ndarray, labels: np.ndarray, *, dims: int | None = 32) -> float:
    """Spearman correlation (x100) between the dissimilarity matrices of the features and of the one-hot labels.

    ``1 - corrcoef`` between samples of the (PCA-reduced, then standardised) features, against ``1 - corrcoef``
    between their one-hot labels, compared over the N(N-1)/2 pairs. Higher = more transferable. The authors reduce
    the features to 32 dimensions with a randomised PCA; hfnet uses the exact PCA (``dims=None``: no reduction).

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        dims: PCA dimensions (clipped to N), or None.
    """
    from scipy.stats import spearmanr

    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n = f.shape[0]
    if n < 3:
        raise HfnetError("PARC needs at least three samples")
    if dims is not None and dims < f.shape[1]:
        f = _pca(f, min(dims, n))
    std = f.std(axis=0)
    f = (f - f.mean(axis=0)) / np.where(std > 0, std, 1.0)
    k = int(y.max()) + 1
    upper = np.triu_indices(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rdm_f = 1 - np.corrcoef(f)[upper]
    # 1 - corrcoef of one-hot rows, exactly: 0 within a class, 1 + 1/(K-1) across (np.corrcoef leaves 1e-16 noise
    # on the ties, which would make the rank correlation depend on the order of the samples)
    rdm_y = np.where(y[upper[0]] == y[upper[1]], 0.0, k / (k - 1))
    if not np.all(np.isfinite(rdm_f)):
        raise HfnetError("PARC: a sample's features are constant after standardisation (zero variance row)")
    return float(spearmanr(rdm_f, rdm_y).statistic * 100)
