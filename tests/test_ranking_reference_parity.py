"""LogME, LEEP, NCE and H-score against direct re-implementations of the published reference algorithms
(thuml/LogME for LogME, LEEP and NCE; Bao et al.'s pinv form for H-score), on real features: scikit-learn's digit
images as 64 pixel features, with more samples than features (N=300) and fewer (N=40, D > N). The references here
are written from the algorithms' descriptions with plain D x D linear algebra, not copied from the reference code.
"""

from __future__ import annotations

import numpy as np
import pytest

from hfnet.ranking.hscore import REFERENCE_RTOL, h_score
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import log_evidence, logme
from hfnet.ranking.nce import nce
from hfnet.ranking.softmax_max import softmax


@pytest.fixture(scope="module")
def digits_features():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    return x[order].astype(np.float64), y[order]


def _logme_reference(f: np.ndarray, labels: np.ndarray) -> float:
    """The thuml/LogME fixed point (11 updates, relative tolerance 1e-3) with D x D matrices; its evidence sums
    ``log(alpha + beta sigma)`` over the singular directions of F only (min(N, D) of them; when N > D those with a
    singular value above 1e-10) and uses the last (alpha, beta) with the posterior moments of the step before."""
    n, d = f.shape
    if n > d:
        eig = np.linalg.svd(f.T @ f, compute_uv=False)
        eig = eig[np.sqrt(eig) > 1e-10]
    else:
        eig = np.linalg.svd(f, compute_uv=False) ** 2
    evidences = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            m = beta * np.linalg.solve(alpha * np.eye(d) + beta * f.T @ f, f.T @ y)
            gamma = np.sum(eig / (eig + t))
            m2, res2 = m @ m, np.sum((y - f @ m) ** 2)
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        logdet = np.sum(np.log(alpha + beta * eig))
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - logdet / 2
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


@pytest.mark.parametrize("n", [300, 40])
def test_logme_reference_mode_reproduces_the_reference_algorithm(digits_features, n):
    f, y = digits_features[0][:n], digits_features[1][:n]
    assert logme(f, y, reference=True) == pytest.approx(_logme_reference(f, y), rel=1e-6)


def test_logme_default_is_the_exact_evidence_and_departs_from_the_reference_only_when_d_exceeds_n(digits_features):
    f, y = digits_features
    wide, yw = f[:40], y[:40]  # D = 64 > N = 40
    # hfnet's value is the direct evidence (D x D formula) at the (alpha, beta) of its fixed point
    from hfnet.ranking._linalg import left_spectrum
    from hfnet.ranking.logme import maximise_evidence, unit_scale

    scaled = unit_scale(wide)  # the default LogME reads the features at unit RMS row norm (scale-invariant)
    sigma, u = left_spectrum(scaled)
    direct = []
    for c in range(10):
        t = (yw == c).astype(float)
        _, alpha, beta = maximise_evidence(u, sigma, t, wide.shape[1])
        direct.append(log_evidence(scaled, t, alpha, beta))
    exact = logme(wide, yw)
    assert exact == pytest.approx(np.mean(direct), rel=1e-9)
    # the reference omits (D - N) log(alpha) / 2N: a large, model-dependent offset when D > N ...
    assert abs(logme(wide, yw, reference=True) - exact) > 0.1
    # ... and agrees closely with hfnet when N > D and the features have full rank (only the iteration budget
    # differs); the digits' always-blank pixels make F rank-deficient, which the reference's count also misses
    tall = f[:300][:, (f[:300] != 0).any(0)]
    assert logme(tall, y[:300], reference=True) == pytest.approx(logme(tall, y[:300]), abs=2e-3)
    assert abs(logme(f[:300], y[:300], reference=True) - logme(f[:300], y[:300])) > 2e-3


def test_leep_matches_the_reference_algorithm_on_real_logits(digits_features):
    f, y = digits_features[0][:300], digits_features[1][:300]
    rng = np.random.default_rng(1)
    probs = softmax(f @ rng.normal(size=(64, 25)) * 0.05)  # a 25-class "source head" on real features
    joint = np.zeros((10, 25))
    for p, t in zip(probs, y):
        joint[t] += p / len(y)
    cond = (joint / joint.sum(0, keepdims=True)).T  # P(y | z), [25, 10]
    reference = np.mean(np.log([(p @ cond)[t] for p, t in zip(probs, y)]))
    assert leep(probs, y) == pytest.approx(reference, rel=1e-10)


def test_nce_matches_the_reference_algorithm_on_real_predictions(digits_features):
    f, y = digits_features[0][:300], digits_features[1][:300]
    z = (f @ np.random.default_rng(2).normal(size=(64, 25))).argmax(1)
    joint = np.zeros((10, 25))
    for s, t in zip(z, y):
        joint[t, s] += 1 / len(y)
    pz = joint.sum(0)
    h = 0.0
    for s in np.flatnonzero(pz):
        cond = joint[:, s] / pz[s] + 1e-20
        h += pz[s] * np.sum(-cond * np.log(cond))
    assert nce(np.eye(25)[z], y) == pytest.approx(-h, abs=1e-12)


def test_h_score_reference_mode_matches_pinv_and_default_differs_only_on_noise(digits_features):
    f, y = digits_features[0][:300], digits_features[1][:300]
    means = np.stack([f[y == c].mean(0) for c in range(10)])
    reference = np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ np.cov(means[y], rowvar=False))
    assert h_score(f, y, rtol=REFERENCE_RTOL) == pytest.approx(reference, rel=1e-6)
    assert h_score(f, y) == pytest.approx(reference, rel=1e-6)  # digits pixels: no noise-level directions
    wide, yw = f[:40], y[:40]  # D > N: plain H-score saturates at K - 1 whatever the features
    assert h_score(wide, yw) == pytest.approx(len(np.unique(yw)) - 1, rel=1e-9)
