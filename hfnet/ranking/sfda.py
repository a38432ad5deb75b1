"""SFDA, Self-challenging Fisher Discriminant Analysis (Shao, Zhao, Gao, Hou, Luo, ECCV 2022, "Not all models are
equal: predicting model transferability in a self-challenging Fisher space", https://arxiv.org/abs/2207.03036)."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import class_sums, left_spectrum, right_vectors
from hfnet.ranking._validate import as_features, as_labels, dense_labels
from hfnet.ranking.softmax_max import softmax

# the authors' code: 3 steps of power iteration for the largest within-class eigenvalue, shrinkage exp(-5 lambda)
POWER_STEPS = 3


def _largest_eigenvalue(w: np.ndarray, steps: int = POWER_STEPS) -> float:
    """The authors' power-iteration estimate of the top eigenvalue of ``S_w = W^T W / N``, never forming S_w."""
    n = w.shape[0]

    def apply(x: np.ndarray) -> np.ndarray:
        return w.T @ (w @ x) / n

    x = apply(np.ones(w.shape[1]))  # S_w summed over its rows
    y = x
    for _ in range(steps):
        y = apply(x)
        y = y / np.linalg.norm(y)
        x = apply(y)
        x = x / np.linalg.norm(x)
    return float(x @ apply(y))


def fda_posteriors(x: np.ndarray, y: np.ndarray, shrinkage: float | None = None) -> tuple[np.ndarray, float]:
    """``(p(y | x) [N, K], shrinkage)`` of linear discriminant analysis with a shrunk within-class scatter.

    ``S_w = sum_c prior_c cov_c`` (biased covariances), shrunk as ``(1 - s) S_w + s (tr S_w / D) I`` with
    ``s = max(exp(-5 lambda_max(S_w)), 1e-10)`` unless given. The authors project on the generalised eigenvectors
    V of ``(S_b, S_w^shrunk)`` and use ``coef = means V V^T``; since ``V^T S_w^shrunk V = I``, ``V V^T`` is
    ``(S_w^shrunk)^-1`` whatever S_b is, so hfnet applies that inverse through the spectrum of the within-class
    residuals (O(N D min(N, D)), no D x D eigenproblem).
    """
    n, d = x.shape
    k = int(y.max()) + 1
    counts = np.bincount(y, minlength=k)
    means = class_sums(x, y, k) / counts[:, None]
    w = x - means[y]
    if shrinkage is None:
        shrinkage = max(float(np.exp(-5.0 * _largest_eigenvalue(w))), 1e-10)
    mu = float(np.sum(w**2)) / n / d
    if mu <= 0:
        raise HfnetError("SFDA: the features do not vary within any class (all samples of a class identical)")
    sigma, u = left_spectrum(w / np.sqrt(n))
    v = right_vectors(w / np.sqrt(n), sigma, u)
    proj = means @ v  # [K, k]
    # (S_w^shrunk)^-1 m = V diag(1 / ((1-s) sigma + s mu)) V^T m + (m - V V^T m) / (s mu)
    coef = (proj / ((1 - shrinkage) * sigma + shrinkage * mu)) @ v.T + (means - proj @ v.T) / (shrinkage * mu)
    intercept = -0.5 * np.einsum("kd,kd->k", means, coef) + np.log(counts / n)
    return softmax(x @ coef.T + intercept), shrinkage


def sfda(features: np.ndarray, labels: np.ndarray, *, first: tuple[np.ndarray, float] | None = None) -> float:
    """Mean probability of the true class under Fisher discriminant analysis after a self-challenging ConfMix step.

    1. Fit a shrinkage LDA (:func:`fda_posteriors`) on the features; soften its posteriors with a second softmax
       (as the authors' code does).
    2. ConfMix: move each sample towards the mean of the *other* classes' means, by ``1 - p_i`` (p_i its softened
       probability of the true class): hard samples are pushed into the confusion region.
    3. Refit the LDA (same shrinkage) on the mixed features; the score is ``(1/N) sum_i p(y_i | x~_i)``
       (no log, as in the authors' code). Higher = more transferable.

    Follows the authors' reference implementation (github.com/TencentARC/SFDA) up to the D x D eigenproblem, which
    is replaced by the equivalent inverse (see :func:`fda_posteriors`) and the features are centred first (the
    reference does not; invariant in exact arithmetic, not in floating point); the input array is not modified.
    Invariant to a common feature offset, the order of the samples, duplicating every sample and renaming the
    labels; not to the feature scale (the authors' shrinkage ``exp(-5 lambda_max)`` depends on it).

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        first: the first LDA's ``fda_posteriors`` on the centred features, when already computed (ETran's LDA
            score is the same fit: the registry computes it once for both).
    """
    x = as_features(features)
    # centred first: the model is offset-invariant, but with a large common offset the inverse of the barely shrunk
    # within-class scatter meets the class means' offset and rounding takes over (offset 3000 gave 1/K)
    x = x - x.mean(axis=0, keepdims=True)
    y = dense_labels(as_labels(labels, x.shape[0]))
    k = int(y.max()) + 1
    if k < 2:
        raise HfnetError("SFDA needs at least two target classes")
    prob, shrinkage = fda_posteriors(x, y) if first is None else first
    prob = softmax(prob)
    counts = np.bincount(y, minlength=k)
    means = class_sums(x, y, k) / counts[:, None]
    others = (means.sum(axis=0, keepdims=True) - means) / (k - 1)
    p = prob[np.arange(len(y)), y][:, None]
    x = p * x + (1 - p) * others[y]
    prob, _ = fda_posteriors(x, y, shrinkage)
    return float(prob[np.arange(len(y)), y].mean())
