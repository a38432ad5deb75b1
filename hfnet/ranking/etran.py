"""ETran, energy-based transferability estimation (Gholami, Akbari, Wang, Zhang, ICCV 2023, "ETran: energy-based
transferability estimation", https://arxiv.org/abs/2308.02027; code github.com/mgholamikn/ETran).

For classification the score is the sum of two terms, both computed from the penultimate features:

- the **energy score** ``S_en``: each sample's negative free energy ``log sum_j exp(f_j(x))`` with the features as
  logits (a label-free in-distribution measure: the lower a model's energy on the target, the more the target looks
  like its training data); averaged over the lowest-energy ``fraction`` of the samples, 0.5 % in the authors'
  ``evaluate_metric.py`` (``Energy_Score(X, 0.5, 'bot')``), at least one sample here (the reference takes none below
  200 samples and returns NaN);
- the **LDA classification score** ``S_lda``: mean posterior of the true class under a shrinkage linear discriminant
  analysis fitted on the target features, with the shrinkage ``max(exp(-5 lambda_max(S_w)), 1e-10)`` of the
  authors' code (shared with SFDA, :func:`hfnet.ranking.sfda.fda_posteriors`).

Where hfnet departs from the authors' code: their LDA projects on the eigenvectors of ``inv(S_w) S_b`` computed with
``np.linalg.eigh``, which treats that non-symmetric product as symmetric and returns an orthonormal basis, so their
``coef = means V V^T`` is just ``means`` (a Euclidean class-mean classifier); hfnet uses the LDA the paper describes,
``coef = means S_w^-1`` with the shrunk within-class scatter. The features are centred first, so ``S_lda`` does not
depend on a common offset; ``S_en`` does (and on the scale), by design: it reads the raw activations.

How the two terms are combined also differs: hfnet's ``etran`` is the plain per-candidate sum ``S_en + S_lda``, in
which the energy (in units of the features, often tens) outweighs the LDA posterior (in [0, 1]). The authors'
``tw.py`` (``-me etran``) min-max normalises each term over the candidates and weighs them
``0.15 n(S_en) + 0.85 n(S_lda)``: :func:`reference_etran`, relative to the candidate set like NCTI (not wired into
the ranking table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._validate import as_features, as_labels, dense_labels

# Energy_Score(X, percent=0.5, tail="bot") in the authors' evaluate_metric.py: the lowest int(0.5 * 10) / 1000 of N
REFERENCE_FRACTION = 0.005
# tw.py of the authors' code: score = 0.15 * minmax(energy) + 0.85 * minmax(lda) over the candidates
REFERENCE_WEIGHTS = (0.15, 0.85)


def energy_score(features: np.ndarray, fraction: float = REFERENCE_FRACTION) -> float:
    """Mean of ``logsumexp(features_i)`` over the ``fraction`` of samples with the lowest value (at least one)."""
    from scipy.special import logsumexp

    f = as_features(features)
    if not 0 < fraction <= 1:
        raise HfnetError(f"energy fraction must be in (0, 1], got {fraction}")
    energy = np.sort(logsumexp(f, axis=1))
    return float(energy[: max(1, int(fraction * len(energy)))].mean())


def lda_posteriors(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """``(p(y | x) [N, K], shrinkage)`` of the shrinkage LDA on the centred features (SFDA's first fit, too)."""
    from hfnet.ranking.sfda import fda_posteriors

    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    if int(y.max()) < 1:
        raise HfnetError("ETran's LDA score needs at least two target classes")
    return fda_posteriors(f - f.mean(axis=0, keepdims=True), y)


def lda_score(
    features: np.ndarray, labels: np.ndarray, *, posteriors: tuple[np.ndarray, float] | None = None
) -> float:
    """Mean posterior of the true class under the shrinkage LDA fitted on the (centred) features."""
    prob, _ = lda_posteriors(features, labels) if posteriors is None else posteriors
    y = dense_labels(as_labels(labels, prob.shape[0]))
    return float(prob[np.arange(len(y)), y].mean())


def etran(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    fraction: float = REFERENCE_FRACTION,
    posteriors: tuple[np.ndarray, float] | None = None,
) -> float:
    """``S_en + S_lda`` (module docstring); higher = more transferable."""
    return energy_score(features, fraction) + lda_score(features, labels, posteriors=posteriors)


def reference_etran(energies: Sequence[float], lda_scores: Sequence[float]) -> list[float]:
    """The authors' ETran of each candidate from every candidate's ``(S_en, S_lda)``: ``0.15 n(S_en) + 0.85 n(S_lda)``
    with ``n`` the min-max normalisation over the candidates (a term equal for all of them counts 0; the authors'
    code divides by zero there). Relative to the candidate set: adding a candidate can change every value."""
    out = np.zeros(len(energies))
    if len(energies) != len(lda_scores):
        raise HfnetError(f"{len(energies)} energy scores for {len(lda_scores)} LDA scores")
    for weight, values in zip(REFERENCE_WEIGHTS, (energies, lda_scores)):
        v = np.asarray(values, dtype=np.float64)
        span = float(v.max() - v.min()) if v.size else 0.0
        if span > 0:
            out += weight * (v - v.min()) / span
    return [float(x) for x in out]
