"""Semantic LogME: hfnet's score that weighs what the class *names* say against what the *features* show.

Design (fixed before it was run on any benchmark target; see the README's ranking section):

The seed's word-vector EMD asks "does the source head put its mass on classes whose names are near the target
label?"; it ignores whether the features separate the target classes, so a model with the right label names and
useless features scores well. LogME asks "how much evidence do the features give for the target labels under a
Bayesian linear model?"; it ignores the names. Fine-tuning keeps the features and learns a new head, so feature
quality must dominate; the names should count only where they predict something the features do not already
explain, and never by themselves.

Both fit one probabilistic model. For target class c, the one-vs-rest indicator ``y_c`` is explained as

    y_c = lambda_c s_c + F w + noise,     w ~ N(0, 1/alpha),  noise ~ N(0, 1/beta),  lambda_c >= 0

where ``s_c`` is the *semantic prediction* of class c: with ``e_ic = f(x_i)^T d[:, c]`` the seed's EMD of sample i
to class c (the expected word-vector distance from the classes the source head predicts to c's name),
``s_ic = mean_c' e_ic' - e_ic``, centred over the samples. s is positive where the source head predicts classes
whose names are closer to c than to the other target classes. The score is the maximum over (alpha, beta,
lambda_c >= 0) of the log evidence per sample, averaged over the classes, exactly like LogME.

Why this shape:

- lambda = 0 is LogME, so the score is LogME plus a non-negative *semantic gain*: names can only add evidence,
  and they add it only as far as the semantic prediction explains label variance that the linear model on the
  features leaves unexplained (lambda_c is a generalised least-squares coefficient in the metric of the
  marginal covariance ``1/beta I + 1/alpha F F^T``). A candidate without class names, or whose names say nothing
  about the target, scores its LogME.
- Useless features cannot be rescued by names: a random network's source softmax is near-uniform and unrelated
  to the image, so ``s_c`` is near-constant over the samples; centring over the samples removes constants
  (otherwise a constant column would act as an intercept LogME does not have and reward every model alike).
- Good features with unrelated names keep their LogME: the seed's EMD would rank them last.
- lambda_c >= 0: a semantic prediction anti-aligned with the labels is not evidence for the model.
- Scale-free in the distances (lambda absorbs it), so no temperature or word-vector normalisation to tune.
"""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking._validate import as_features, as_labels, as_probabilities
from hfnet.ranking.logme import maximise_evidence, unit_scale


def semantic_predictions(probs: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """``[N, n_t]`` s: per sample and target class, how much closer the predicted source names are to that class
    than to the average target class, centred over the samples (see the module docstring)."""
    p = as_probabilities(probs)
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != p.shape[1]:
        raise HfnetError(f"distances must be [n_source={p.shape[1]}, n_target], got shape {d.shape}")
    emd = p @ d  # [N, n_t]: the seed's EMD of each sample to each target class
    s = emd.mean(axis=1, keepdims=True) - emd
    return s - s.mean(axis=0, keepdims=True)


def _semantic_weight(u: np.ndarray, sigma: np.ndarray, t: float, s: np.ndarray, y: np.ndarray) -> float:
    """argmax over lambda >= 0 of the evidence at fixed alpha / beta = t: <s, y>_M / <s, s>_M, clipped at 0, with
    ``M = I - U diag(sigma / (sigma + t)) U^T`` (the marginal precision up to beta)."""
    us, uy = u.T @ s, u.T @ y
    shrink = sigma / (sigma + t)
    ss = float(s @ s - np.sum(shrink * us * us))
    if ss <= 1e-12 * max(float(s @ s), 1e-300):
        return 0.0
    return max(float(s @ y - np.sum(shrink * us * uy)) / ss, 0.0)


def semantic_logme(
    features: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    distances: np.ndarray | None,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    return_weights: bool = False,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> float | tuple[float, np.ndarray]:
    """LogME whose linear model may also use the semantic prediction of each class (higher = more transferable).

    ``mean_c max_{alpha, beta, lambda_c >= 0} log p(y_c | F, s_c; alpha, beta, lambda_c) / N`` with
    ``y_c = lambda_c s_c + F w + noise`` (module docstring: formula and reasoning). Alternates MacKay's fixed point
    for (alpha, beta) on ``y_c - lambda_c s_c`` with the closed-form lambda_c until lambda_c settles. Equals
    :func:`hfnet.ranking.logme.logme` when ``distances`` is None (no class names) or when the names carry no
    evidence.

    Args:
        features: ``[N, D]`` penultimate features.
        probs: ``[N, n_s]`` source softmax.
        labels: ``[N]`` target class indices in ``[0, n_t)`` (the columns of ``distances``).
        distances: ``[n_s, n_t]`` word-vector distances between source and target class names, or None.
        max_iter: outer alternations (and MacKay updates per alternation) at most.
        tol: relative tolerance on alpha / beta and on lambda.
        return_weights: also return the lambda_c of every class present.
        spectrum: :func:`~hfnet.ranking._linalg.left_spectrum` of the same features, at unit RMS row norm (:func:`~hfnet.ranking.logme.unit_scale`), when the caller has
            it (the ranking computes it once per candidate for every score that needs it); None: computed here.
    """
    f = unit_scale(as_features(features))  # as LogME's default: invariant to the scale of the features
    n, d = f.shape
    if distances is None:
        s_all = None
        y = as_labels(labels, n)
    else:
        s_all = semantic_predictions(probs, distances)
        if s_all.shape[0] != n:
            raise HfnetError(f"probs has {s_all.shape[0]} rows for {n} feature rows")
        y = as_labels(labels, n, s_all.shape[1])
    sigma, u = spectrum if spectrum is not None else left_spectrum(f)
    evidences, weights = [], []
    for c in np.unique(y):
        target = (y == c).astype(np.float64)
        evidence, alpha, beta = maximise_evidence(u, sigma, target, d, max_iter=max_iter, tol=tol)
        lam = 0.0
        if s_all is not None:
            s = s_all[:, c]
            for _ in range(max_iter):
                new = _semantic_weight(u, sigma, alpha / beta, s, target)
                evidence, alpha, beta = maximise_evidence(
                    u, sigma, target - new * s, d, max_iter=max_iter, tol=tol, alpha=alpha, beta=beta
                )
                converged = abs(new - lam) <= tol * max(abs(new), 1e-12)
                lam = new
                if converged:
                    break
        evidences.append(evidence)
        weights.append(lam)
    score = float(np.mean(evidences))
    return (score, np.asarray(weights)) if return_weights else score
