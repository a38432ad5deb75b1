"""LogME, the log maximum evidence of a Bayesian linear model on the features (You, Liu, Wang, Long, ICML 2021,
https://arxiv.org/abs/2102.11005)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking._validate import as_features, as_labels, dense_labels

_EPS = 1e-5


def log_evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """``log p(y | F, alpha, beta) / N`` of Bayesian linear regression ``y ~ N(F w, 1/beta)``, ``w ~ N(0, 1/alpha)``.

    Computed directly (D x D matrices): the reference that :func:`logme` is tested against.
    """
    f = as_features(features)
    y = np.asarray(target, dtype=np.float64)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    evidence = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * np.sum((y - f @ m) ** 2)
        - alpha / 2 * np.sum(m**2)
        - logdet / 2
    )
    return float(evidence / n)


def _maximise_evidence(
    u: np.ndarray, sigma: np.ndarray, y: np.ndarray, d: int, max_iter: int, tol: float
) -> tuple[float, float, float]:
    """MacKay's fixed point for (alpha, beta) in the SVD basis; returns (evidence / N, alpha, beta)."""
    n = y.shape[0]
    x2 = (u.T @ y) ** 2
    residual_outside = max(float(y @ y - x2.sum()), 0.0)  # the part of y orthogonal to span(F)
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        t = alpha / beta
        gamma = float((sigma / (sigma + t)).sum())
        m2 = float((sigma * x2 / (t + sigma) ** 2).sum())
        res2 = float((x2 / (1 + sigma / t) ** 2).sum()) + residual_outside
        alpha = gamma / (m2 + _EPS)
        beta = (n - gamma) / (res2 + _EPS)
        if abs(alpha / beta - t) / t <= tol:
            break
    t = alpha / beta
    m2 = float((sigma * x2 / (t + sigma) ** 2).sum())
    res2 = float((x2 / (1 + sigma / t) ** 2).sum()) + residual_outside
    # log|alpha I + beta F^T F| over all D directions: F^T F has min(N, D) non-zero eigenvalues sigma, the rest are 0
    logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - sigma.shape[0]) * np.log(alpha)
    evidence = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - logdet / 2
    )
    return float(evidence / n), alpha, beta


def logme(features: np.ndarray, labels: np.ndarray, *, max_iter: int = 100, tol: float = 1e-6) -> float:
    """Mean over target classes of the maximum log evidence per sample of a one-vs-rest Bayesian linear model.

    For each class c, the target is the indicator ``y = [t_i == c]``; alpha (weight precision) and beta (noise
    precision) are set by MacKay's fixed-point iteration in the SVD basis of the features, which is the LogME
    algorithm (You et al. 2021, Algorithm 2), with the spectrum from the smaller Gram matrix. Higher = more transferable. Unlike the reference code, the evidence
    counts ``log(alpha)`` for the ``D - N`` zero eigenvalues when N < D, so it equals the direct formula
    (:func:`log_evidence`) at the fixed point.

    Args:
        features: ``[N, D]`` penultimate features of the candidate on the target images.
        labels: ``[N]`` target class indices.
        max_iter: fixed-point iterations at most per class.
        tol: stop when the relative change of alpha / beta is below this.
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n, d = f.shape
    sigma, u = left_spectrum(f)
    evidences = [
        _maximise_evidence(u, sigma, (y == c).astype(np.float64), d, max_iter, tol)[0] for c in range(int(y.max()) + 1)
    ]
    return float(np.mean(evidences))
