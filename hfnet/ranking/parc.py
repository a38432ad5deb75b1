"""PARC, Pairwise Annotation Representation Comparison (Bolya, Mittapalli, Hoffman, NeurIPS 2021, "Scalable diverse
model selection for accessible transfer learning", https://arxiv.org/abs/2111.06977)."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import left_spectrum, right_vectors
from hfnet.ranking._validate import as_features, as_labels, dense_labels


def pca(f: np.ndarray, dims: int, spectrum: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``[N, k]`` principal-component scores of ``f``, ``k <= dims`` the components with variance.

    Signs are fixed (the largest-magnitude loading of each component positive, a property of the features, not of
    the sample order; LAPACK's choice moved PARC by 1-2 points when the samples were shuffled), and components of
    numerically zero variance (below 1e-10 of the largest, e.g. beyond N - 1 when N <= dims) are dropped: the
    standardisation after the PCA would scale their rounding noise up to unit variance. Computed through the
    smaller Gram matrix (a thin SVD of 400 x 1280 features took 2 s; this takes a few hundredths).
    """
    centred = f - f.mean(axis=0, keepdims=True)
    # squared singular values (ascending), through the smaller Gram matrix (or the caller's, of the same centred f)
    sigma, u = spectrum if spectrum is not None else left_spectrum(centred)
    keep = np.argsort(sigma)[::-1][:dims]
    sigma, u = sigma[keep], u[:, keep]
    v = right_vectors(centred, sigma, u)  # [D, k] loadings
    signs = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
    return u * (np.sqrt(sigma) * signs)


def parc(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    dims: int | None = 32,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Spearman correlation (x100) between the dissimilarity matrices of the features and of the one-hot labels.

    ``1 - corrcoef`` between samples of the (PCA-reduced, then standardised) features, against ``1 - corrcoef``
    between their one-hot labels, compared over the N(N-1)/2 pairs. Higher = more transferable. The authors reduce
    the features to 32 dimensions with a randomised PCA; hfnet uses the exact PCA with fixed signs, keeping only
    components with variance (:func:`pca`; ``dims=None``: no reduction). Invariant to a common offset and scale of
    the features, the order of the samples and renaming the labels (not to duplicating samples: pairs are counted).

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        dims: PCA dimensions at most (fewer when the centred features have lower rank), or None.
        spectrum: :func:`~hfnet.ranking._linalg.left_spectrum` of the same features, centred, when the caller has
            it (the ranking computes it once per candidate for every score that needs it); None: computed here.
    """
    from scipy.stats import spearmanr

    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n = f.shape[0]
    if n < 3:
        raise HfnetError("PARC needs at least three samples")
    if dims is not None and dims < f.shape[1]:
        f = pca(f, dims, spectrum)
        if f.shape[1] == 0:
            raise HfnetError("PARC: the features do not vary over the samples")
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
