"""LogME, the log maximum evidence of a Bayesian linear model on the features (You, Liu, Wang, Long, ICML 2021,
https://arxiv.org/abs/2102.11005; fixed-point algorithm: You et al. 2022, https://arxiv.org/abs/2110.10545)."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking._validate import as_features, as_labels, dense_labels

# The reference code adds 1e-5 to |m|^2 and to the residual in the alpha / beta updates. It is not scale-free: |m|^2
# scales as 1 / scale^2 of the features, so at row norms of 1e4 the constant dominates it and the score moves
# (-0.61 -> -2.28 on one candidate), and near 1e9 alpha reaches 0. hfnet's default LogME first divides the features
# by their root-mean-square row norm (:func:`unit_scale`), where the constant acts at one fixed scale: the score is
# then invariant to scaling the features. ``logme_reference`` keeps the raw features.
_EPS = 1e-5
# The reference code (thuml/LogME, ``LogME._fit_fixed_point``) stops after 11 updates or a relative change of
# alpha / beta below 1e-3; hfnet iterates to convergence by default.
REFERENCE_MAX_ITER = 11
REFERENCE_TOL = 1e-3


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


def unit_scale(f: np.ndarray) -> np.ndarray:
    """``f`` divided by its root-mean-square row norm (unchanged when that is 0): LogME's input at a fixed scale."""
    rms = float(np.sqrt(np.mean(np.sum(f * f, axis=1))))
    return f / rms if rms > 0 else f


def _moments(x2: np.ndarray, sigma: np.ndarray, outside: float, t: float) -> tuple[float, float, float]:
    """(gamma, |m|^2, |y - F m|^2) of the posterior mean m at t = alpha / beta, in the SVD basis."""
    gamma = float((sigma / (sigma + t)).sum())
    m2 = float((sigma * x2 / (t + sigma) ** 2).sum())
    res2 = float((x2 / (1 + sigma / t) ** 2).sum()) + outside
    return gamma, m2, res2


def _evidence(
    n: int, d: int, alpha: float, beta: float, sigma: np.ndarray, m2: float, res2: float, zeros: int
) -> float:
    """Per-sample log evidence; ``zeros`` = how many zero eigenvalues of F^T F count as ``log(alpha)`` each."""
    logdet = float(np.sum(np.log(alpha + beta * sigma))) + zeros * np.log(alpha)
    evidence = (
        d / 2 * np.log(alpha)
        + n / 2 * np.log(beta)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - logdet / 2
    )
    return float(evidence / n)


def maximise_evidence(
    u: np.ndarray,
    sigma: np.ndarray,
    y: np.ndarray,
    d: int,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    alpha: float = 1.0,
    beta: float = 1.0,
    reference_rank: int | None = None,
) -> tuple[float, float, float]:
    """MacKay's fixed point for (alpha, beta) in the SVD basis ``(sigma, u)`` of F; returns (evidence / N, alpha, beta).

    ``reference_rank=r`` reproduces thuml/LogME's ``_fit_fixed_point``: its evidence counts ``log(alpha + beta
    sigma)`` for the r directions its SVD returns (``min(N, D)``, or when N > D those with a singular value above
    1e-10; directions hfnet dropped as numerically zero count as ``log(alpha)``), omitting ``log(alpha)`` for the
    other ``D - r`` zero eigenvalues, and is evaluated with the last (alpha, beta) but the |m|^2 and residual of the
    step before.
    """
    n = y.shape[0]
    x2 = (u.T @ y) ** 2
    outside = max(float(y @ y - x2.sum()), 0.0)  # the part of y orthogonal to span(F)
    m2 = res2 = 0.0
    for _ in range(max_iter):
        t = alpha / beta
        gamma, m2, res2 = _moments(x2, sigma, outside, t)
        alpha = gamma / (m2 + _EPS)
        beta = (n - gamma) / (res2 + _EPS)
        if not (alpha > 0 and beta > 0 and np.isfinite(alpha) and np.isfinite(beta)):
            raise HfnetError(
                f"LogME: the fixed point left its domain (alpha {alpha:.3g}, beta {beta:.3g}); the features are of an "
                "extreme scale for the reference's 1e-5 constants: use the scale-invariant LogME (the default)"
            )
        if abs(alpha / beta - t) / t <= tol:
            break
    if reference_rank is not None:
        return _evidence(n, d, alpha, beta, sigma, m2, res2, reference_rank - sigma.shape[0]), alpha, beta
    _, m2, res2 = _moments(x2, sigma, outside, alpha / beta)
    # log|alpha I + beta F^T F| over all D directions: F^T F has sigma.shape[0] non-zero eigenvalues, the rest are 0
    return _evidence(n, d, alpha, beta, sigma, m2, res2, d - sigma.shape[0]), alpha, beta


def logme(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    reference: bool = False,
    scale_invariant: bool | None = None,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean over target classes of the maximum log evidence per sample of a one-vs-rest Bayesian linear model.

    For each class c, the target is the indicator ``y = [t_i == c]``; alpha (weight precision) and beta (noise
    precision) are set by MacKay's fixed-point iteration in the SVD basis of the features, which is the LogME
    algorithm (You et al. 2021, Algorithm 2), with the spectrum from the smaller Gram matrix. Higher = more
    transferable.

    Where hfnet departs from the reference code (thuml/LogME), and ``reference=True`` restores it:

    - with more features than samples (D > N) hfnet's evidence counts ``log(alpha)`` for the ``D - N`` zero
      eigenvalues of ``F^T F``, so it equals the direct formula (:func:`log_evidence`) at the fixed point; the
      reference omits that term, which adds ``(D - N) log(alpha) / (2N)`` and can reorder candidates (on 200
      EfficientNet features of dimension 1280 it dominates the score);
    - hfnet iterates until alpha / beta changes by less than ``tol`` (1e-6, at most 100 updates) and evaluates the
      evidence at the final (alpha, beta); the reference stops after 11 updates or a relative change of 1e-3, and
      evaluates the evidence with the previous step's |m|^2 and residual.

    Args:
        features: ``[N, D]`` penultimate features of the candidate on the target images.
        labels: ``[N]`` target class indices.
        max_iter: fixed-point iterations at most per class (reference: 11).
        tol: stop when the relative change of alpha / beta is below this (reference: 1e-3).
        reference: reproduce the reference code exactly (sets ``max_iter=11``, ``tol=1e-3`` and its evidence formula).
        scale_invariant: divide the features by their root-mean-square row norm first (:func:`unit_scale`), so
            the reference's 1e-5 constants act at one scale and the score does not change when the features are
            scaled. Default: True, except with ``reference=True`` (the reference uses the raw features).
        spectrum: :func:`~hfnet.ranking._linalg.left_spectrum` of the same features as the score uses them (at unit
            RMS row norm unless ``scale_invariant=False``), when the caller has it (the ranking computes it once per
            candidate for every score that needs it); None: computed here.
    """
    f = as_features(features)
    if scale_invariant is None:
        scale_invariant = not reference
    if scale_invariant:
        f = unit_scale(f)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n, d = f.shape
    sigma, u = spectrum if spectrum is not None else left_spectrum(f)
    rank = None
    if reference:
        max_iter, tol = REFERENCE_MAX_ITER, REFERENCE_TOL
        # the reference's SVD: min(N, D) values, or when N > D those of F^T F whose square root exceeds 1e-10
        # (rounding noise included, so the count is the reference's own, computed the reference's way)
        rank = n if n <= d else int(np.sum(np.sqrt(np.linalg.svd(f.T @ f, compute_uv=False)) > 1e-10))
    evidences = [
        maximise_evidence(u, sigma, (y == c).astype(np.float64), d, max_iter=max_iter, tol=tol, reference_rank=rank)[0]
        for c in range(int(y.max()) + 1)
    ]
    return float(np.mean(evidences))
