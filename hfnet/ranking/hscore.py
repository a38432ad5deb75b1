"""H-score (Bao, Li, Huang, Liu, Zheng, ICIP 2019, https://ieeexplore.ieee.org/document/8803726) and its shrinkage
form (Ibrahim, Ponomareva, Mazumder, "Newer is not always better: rethinking transferability metrics, their
peculiarities, stability and performance", ECML-PKDD 2022 / arXiv 2023, https://arxiv.org/abs/2110.06893)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._linalg import RTOL, class_sums, left_spectrum
from hfnet.ranking._validate import as_features, as_labels, dense_labels

# numpy.linalg.pinv(cov, rcond=1e-15), as the reference code calls it
REFERENCE_RTOL = 1e-15


def _class_mean_energy(f: np.ndarray, y: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``[k]``: ``|G b_j|^2`` for each column ``b_j`` of ``basis`` ``[D, k]``, G ``[N, D]`` every sample replaced by
    the mean of its class minus the overall mean; computed on the K class means weighted by their counts, not on the
    N rows of G."""
    k = int(y.max()) + 1
    counts = np.bincount(y, minlength=k)
    means = class_sums(f, y, k) / counts[:, None] - f.mean(axis=0, keepdims=True)
    return counts @ (means @ basis) ** 2


def h_score(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    rtol: float = RTOL,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """``tr(cov(f)^+ cov(E[f | y]))`` (higher = more transferable).

    The between-class covariance of the penultimate features (each sample replaced by its class mean) measured in
    the metric of their total covariance; ``^+`` is the pseudo-inverse, so rank-deficient features (N < D) work.
    Computed in the spectrum of the centred features (O(N D min(N, D)) instead of a D x D pseudo-inverse).
    With N <= D (features of full rank) the score is exactly K - 1 for every model: H-score needs N well above D;
    see :func:`shrinkage_h_score`.

    Departure from the reference code: the reference pseudo-inverts with ``rcond=1e-15``, which treats directions
    of rounding-noise variance as real (and can blow the score up on rank-deficient ReLU features); hfnet drops
    directions below ``rtol=1e-10`` of the largest. Pass ``rtol=1e-15`` (:data:`REFERENCE_RTOL`) to reproduce it.

    Args:
        features: ``[N, D]`` penultimate features of the candidate on the target images.
        labels: ``[N]`` target class indices.
        rtol: eigenvalues of the feature covariance below ``rtol`` times the largest count as zero.
        spectrum: :func:`~hfnet.ranking._linalg.left_spectrum` of the same features, centred, at ``rtol``, when the
            caller has it (the ranking computes it once per candidate for every score that needs it); None: computed
            here.
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    centred = f - f.mean(axis=0, keepdims=True)
    sigma, u = spectrum if spectrum is not None else left_spectrum(centred, rtol=rtol)
    # cov_f = V diag(sigma) V^T / (N-1), cov_g = G^T G / (N-1) and v_j = F^T u_j / sqrt(sigma_j), so
    # tr(cov_f^+ cov_g) = sum_j |G v_j|^2 / sigma_j = sum_j |G F^T u_j|^2 / sigma_j^2
    return float(np.sum(_class_mean_energy(f, y, centred.T @ u) / sigma**2))


def ledoit_wolf_shrinkage(centred: np.ndarray) -> float:
    """The Ledoit-Wolf shrinkage intensity of centred ``[N, D]`` data (Ledoit, Wolf 2004; scikit-learn's estimator).

    Written with N x N products only: ``sum_ij (X^T X)_ij^2 = |X X^T|_F^2`` and ``sum_ij (X2^T X2)_ij = sum_i |x_i|^4``.
    """
    n, p = centred.shape
    sq_norms = np.einsum("ij,ij->i", centred, centred)
    gram = centred @ centred.T if n <= p else centred.T @ centred
    mu = sq_norms.sum() / n / p
    delta_ = float(np.sum(gram**2)) / n**2
    beta = (float(np.sum(sq_norms**2)) / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * sq_norms.sum() / n + p * mu**2) / p
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


def shrinkage_h_score(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    rtol: float = RTOL,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """``tr(cov_alpha(f)^-1 (1 - alpha) cov(E[f | y]))``: H-score with the Ledoit-Wolf covariance (higher = better).

    Ibrahim et al. show the plain H-score is unstable when D approaches or exceeds N (its covariance estimate is
    singular, the score saturates at K - 1). The shrunk covariance ``cov_alpha = (1 - alpha) S + alpha (tr S / D) I``
    (S the maximum-likelihood covariance, alpha the Ledoit-Wolf intensity) is invertible for any N, and the
    between-class covariance is shrunk by the same ``1 - alpha``. As in the authors' code, ``cov_alpha`` uses 1/N and
    ``cov(E[f | y])`` uses 1/(N-1) (numpy's ``np.cov``). Computed in the spectrum of the centred features: the
    class-mean rows lie in their span, so only those directions contribute.

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        rtol: relative threshold below which a direction of the features counts as empty.
        spectrum: :func:`~hfnet.ranking._linalg.left_spectrum` of the same features, centred, at ``rtol``, when the
            caller has it (the ranking computes it once per candidate for every score that needs it); None: computed
            here.
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n, d = f.shape
    centred = f - f.mean(axis=0, keepdims=True)
    alpha = ledoit_wolf_shrinkage(centred)
    sigma, u = spectrum if spectrum is not None else left_spectrum(centred, rtol=rtol)
    mu = float(np.sum(centred**2)) / n / d
    v = (centred.T @ u) / np.sqrt(sigma)  # eigenvectors of S, eigenvalues sigma / n
    between = _class_mean_energy(f, y, v) / (n - 1)
    return float((1 - alpha) * np.sum(between / ((1 - alpha) * sigma / n + alpha * mu)))
