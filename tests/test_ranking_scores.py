"""The ranking scores against hand-computed values and direct formulas on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from hfnet.errors import HfnetError
from hfnet.ranking.emd import word_vector_emd, word_vector_emd_mean
from hfnet.ranking.hscore import h_score
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import log_evidence, logme
from hfnet.ranking.metrics import METRICS, ScoreInputs, get_metrics
from hfnet.ranking.nce import nce
from hfnet.ranking.softmax_max import softmax, softmax_max, softmax_max_mean


def _random_case(n=40, n_s=6, n_t=3, d=5, seed=0):
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(size=(n, n_s)) * 2)
    labels = np.arange(n) % n_t
    features = rng.normal(size=(n, d)) + labels[:, None] * 0.7
    distances = rng.uniform(0.5, 3.0, size=(n_s, n_t))
    return probs, labels, features, distances


def test_softmax_max_hand_values():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    assert softmax_max(probs) == pytest.approx(1.2)
    assert softmax_max_mean(probs) == pytest.approx(0.6)
    assert softmax_max(np.full((4, 4), 0.25)) == pytest.approx(1.0)


def test_softmax_is_stable_for_large_logits():
    p = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])


def test_emd_is_zero_when_mass_sits_on_the_class_with_the_target_name():
    # source classes "cat", "dog", "car"; target classes "dog", "cat": same names have distance 0
    distances = np.array([[1.5, 0.0], [0.0, 1.5], [4.0, 5.0]])
    probs = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 1])
    assert word_vector_emd(probs, labels, distances) == 0.0


def test_emd_hand_value():
    distances = np.array([[0.0, 2.0], [3.0, 1.0]])
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    labels = np.array([0, 1])
    # sample 0: 0.5*0 + 0.5*3 = 1.5 ; sample 1: 0.25*2 + 0.75*1 = 1.25
    assert word_vector_emd(probs, labels, distances) == pytest.approx(2.75)
    assert word_vector_emd_mean(probs, labels, distances) == pytest.approx(1.375)


def _emd_by_linear_programming(p: np.ndarray, q: np.ndarray, d: np.ndarray) -> float:
    """The transport problem of the paper's equations (1)-(7), solved by an LP."""
    m, n = d.shape
    a_ub = np.zeros((m + n, m * n))
    for i in range(m):
        a_ub[i, i * n : (i + 1) * n] = 1
    for j in range(n):
        a_ub[m + j, j::n] = 1
    b_ub = np.concatenate([p, q])
    total = min(p.sum(), q.sum())
    res = linprog(d.ravel(), A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, m * n)), b_eq=[total], bounds=(0, None))
    assert res.success
    return res.fun / total


def test_emd_closed_form_equals_the_transport_problem():
    probs, labels, _, distances = _random_case(n=8)
    by_lp = sum(
        _emd_by_linear_programming(probs[i], np.eye(distances.shape[1])[labels[i]], distances) for i in range(8)
    )
    assert word_vector_emd(probs, labels, distances) == pytest.approx(by_lp, rel=1e-6)


def _leep_direct(probs, labels):
    n, z_count = probs.shape
    classes = sorted(set(labels.tolist()))
    joint = {(y, z): sum(probs[i, z] for i in range(n) if labels[i] == y) / n for y in classes for z in range(z_count)}
    pz = {z: sum(joint[(y, z)] for y in classes) for z in range(z_count)}
    total = 0.0
    for i in range(n):
        total += math.log(sum(joint[(labels[i], z)] / pz[z] * probs[i, z] for z in range(z_count)))
    return total / n


def test_leep_matches_the_direct_formula():
    probs, labels, _, _ = _random_case()
    assert leep(probs, labels) == pytest.approx(_leep_direct(probs, labels), rel=1e-10)


def test_leep_is_zero_for_a_perfect_deterministic_source():
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert leep(probs, np.array([2, 0, 1, 2])) == pytest.approx(0.0)


def _nce_direct(probs, labels):
    z = probs.argmax(1)
    n = len(labels)
    total = 0.0
    for y in set(labels.tolist()):
        for zz in set(z.tolist()):
            p_yz = np.sum((labels == y) & (z == zz)) / n
            if p_yz > 0:
                total += p_yz * math.log(p_yz / (np.sum(z == zz) / n))
    return total


def test_nce_matches_the_direct_formula_and_limits():
    probs, labels, _, _ = _random_case()
    assert nce(probs, labels) == pytest.approx(_nce_direct(probs, labels), rel=1e-12)
    assert nce(np.eye(3)[[0, 1, 2, 1]], np.array([1, 2, 0, 2])) == pytest.approx(0.0)
    # one source class for every sample, balanced 2-class target: -H(Y) = -log 2
    assert nce(np.eye(3)[[0, 0, 0, 0]], np.array([0, 1, 0, 1])) == pytest.approx(-math.log(2))


def test_h_score_matches_the_direct_formula():
    _, labels, features, _ = _random_case(n=60, d=4)
    cov_f = np.cov(features, rowvar=False)
    means = np.stack([features[labels == c].mean(0) for c in range(3)])
    cov_g = np.cov(means[labels], rowvar=False)
    assert h_score(features, labels) == pytest.approx(np.trace(np.linalg.inv(cov_f) @ cov_g), rel=1e-8)


def test_h_score_grows_with_class_separation():
    rng = np.random.default_rng(1)
    labels = np.arange(90) % 3
    noise = rng.normal(size=(90, 4))
    assert h_score(noise + 3 * labels[:, None], labels) > h_score(noise + 0.1 * labels[:, None], labels)


@pytest.mark.parametrize("n,d", [(50, 4), (6, 10), (40, 40)])
def test_logme_equals_the_maximum_of_the_direct_evidence(n, d):
    # informative features, so the evidence has an interior maximum over (alpha, beta); N < D included
    rng = np.random.default_rng(n)
    labels = np.arange(n) % 2
    features = rng.normal(size=(n, d))
    features[:, 0] += 3 * labels
    features[:, 1] += 3 * (1 - labels)
    per_class = []
    for c in range(2):
        y = (labels == c).astype(float)
        res = minimize(
            lambda v, y=y: -log_evidence(features, y, math.exp(v[0]), math.exp(v[1])),
            x0=[0.0, 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
        )
        per_class.append(-res.fun)
    assert logme(features, labels) == pytest.approx(np.mean(per_class), abs=1e-6)


def test_logme_prefers_informative_features():
    rng = np.random.default_rng(2)
    labels = np.arange(100) % 4
    noise = rng.normal(size=(100, 8))
    assert logme(noise + 2 * np.eye(8)[labels], labels) > logme(noise, labels)


def test_every_score_is_invariant_to_sample_order():
    probs, labels, features, distances = _random_case(n=30)
    perm = np.random.default_rng(3).permutation(30)
    a = ScoreInputs(probs, features, labels, distances)
    b = ScoreInputs(probs[perm], features[perm], labels[perm], distances)
    for metric in METRICS.values():
        if metric.set_relative:  # their per-candidate terms: test_ranking_invariances.py
            continue
        assert metric.fn(a) == pytest.approx(metric.fn(b), rel=1e-9), metric.name


def test_scores_ignore_the_numbering_of_target_classes():
    probs, labels, features, _ = _random_case(n=30)
    relabelled = np.array([5, 9, 7])[labels]  # same partition, other indices
    assert leep(probs, labels) == pytest.approx(leep(probs, relabelled))
    assert logme(features, labels) == pytest.approx(logme(features, relabelled))


def test_bad_inputs_fail_clearly():
    with pytest.raises(HfnetError, match="unknown metric"):
        get_metrics(["logme", "accuracy"])
    with pytest.raises(HfnetError, match="probabilities"):
        softmax_max(np.array([[2.0, 3.0]]))
    with pytest.raises(HfnetError, match="labels must lie"):
        word_vector_emd(np.array([[1.0, 0.0]]), np.array([3]), np.ones((2, 2)))
    with pytest.raises(HfnetError, match="distances must be"):
        word_vector_emd(np.array([[1.0, 0.0]]), np.array([0]), np.ones((3, 2)))
    for bad in (-1.0, np.inf, np.nan):  # one bad entry, the others valid
        with pytest.raises(HfnetError, match="distances must be finite and non-negative"):
            word_vector_emd(np.array([[1.0, 0.0]]), np.array([0]), np.array([[1.0, 2.0], [bad, 1.0]]))
    with pytest.raises(HfnetError, match="non-empty"):
        logme(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(HfnetError, match="class names"):
        METRICS["emd"].fn(ScoreInputs(np.eye(2), np.eye(2), np.array([0, 1]), None))


def test_h_score_with_fewer_samples_than_dimensions_matches_the_pseudo_inverse():
    rng = np.random.default_rng(4)
    labels = np.arange(30) % 5
    features = rng.normal(size=(30, 80)) + labels[:, None]
    means = np.stack([features[labels == c].mean(0) for c in range(5)])
    direct = np.trace(
        np.linalg.pinv(np.cov(features, rowvar=False), hermitian=True) @ np.cov(means[labels], rowvar=False)
    )
    assert h_score(features, labels) == pytest.approx(direct, rel=1e-6)
