"""The scores added beyond the seed (SFDA, k-NN, NLEEP, PARC, TransRate, shrinkage H-score, semantic LogME) against
direct implementations of their published formulas, written here without hfnet's shortcuts; their invariances;
and every registered score's declared direction (a better model must score better)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg
from scipy.stats import rankdata

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking.hscore import shrinkage_h_score
from hfnet.ranking.knn import knn_accuracy
from hfnet.ranking.logme import logme, maximise_evidence, unit_scale
from hfnet.ranking.metrics import DEFAULT_METRICS, METRICS, ScoreInputs
from hfnet.ranking.nleep import nleep
from hfnet.ranking.parc import parc
from hfnet.ranking.semantic import semantic_logme, semantic_predictions
from hfnet.ranking.sfda import sfda
from hfnet.ranking.softmax_max import softmax
from hfnet.ranking.transrate import transrate


def _case(n=60, d=12, k=4, seed=0, shift=0.8):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    features = rng.normal(size=(n, d)) + shift * np.eye(k, d)[labels] * 3
    return features, labels


# ------------------------------------------------------------------------------------------------------ SFDA
def _fda_direct(x, y, shrinkage=None):
    """Shrinkage LDA as the paper's Algorithm: D x D scatter matrices, generalised eigenproblem, coef = M V V^T."""
    n, d = x.shape
    classes = np.unique(y)
    priors = np.array([(y == c).mean() for c in classes])
    means = np.stack([x[y == c].mean(0) for c in classes])
    sw = sum(p * np.cov(x[y == c].T, bias=True) for p, c in zip(priors, classes))
    if shrinkage is None:
        v = sw.sum(axis=1)  # 3 power steps from the row sums, as the authors do
        for _ in range(3):
            w = sw @ v
            w /= np.linalg.norm(w)
            v = sw @ w
            v /= np.linalg.norm(v)
        shrinkage = max(np.exp(-5 * (v @ sw @ w)), 1e-10)
    mu = np.trace(sw) / d
    sw_s = (1 - shrinkage) * sw + shrinkage * mu * np.eye(d)
    st = (1 - shrinkage) * np.cov(x.T, bias=True) + shrinkage * np.trace(np.cov(x.T, bias=True)) / d * np.eye(d)
    _, vecs = linalg.eigh(st - sw_s, sw_s)
    coef = means @ vecs @ vecs.T
    logits = x @ coef.T - 0.5 * np.diag(means @ coef.T) + np.log(priors)
    return softmax(logits), shrinkage


def _sfda_direct(x, y):
    x = x.copy()
    prob, s = _fda_direct(x, y)
    prob = softmax(prob)
    k = len(np.unique(y))
    means = np.stack([x[y == c].mean(0) for c in range(k)])
    for c in range(k):
        others = (means.sum(0) - means[c]) / (k - 1)
        p = prob[y == c, c][:, None]
        x[y == c] = p * x[y == c] + (1 - p) * others
    prob, _ = _fda_direct(x, y, s)
    return prob[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("n, d", [(60, 12), (20, 40)])
def test_sfda_matches_the_direct_algorithm(n, d):
    x, y = _case(n, d, shift=0.3)
    assert sfda(x, y) == pytest.approx(_sfda_direct(x, y), rel=1e-7)


# ------------------------------------------------------------------------------------------------------ k-NN
def test_knn_matches_a_loop_over_samples():
    x, y = _case(50, 6, shift=0.4)
    k, temp = 7, 0.1
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    correct = 0
    for i in range(len(y)):
        sims = [(xn[i] @ xn[j], j) for j in range(len(y)) if j != i]
        top = sorted(sims, reverse=True)[:k]
        votes = np.zeros(4)
        for s, j in top:
            votes[y[j]] += np.exp(s / temp)
        correct += votes.argmax() == y[i]
    assert knn_accuracy(x, y, k=k, temperature=temp) == pytest.approx(correct / len(y))
    far = np.eye(4)[y] * 10 + 0.01 * np.random.default_rng(1).normal(size=(50, 4))
    assert knn_accuracy(far, y) == 1.0


def test_knn_matches_the_loop_with_many_candidates_per_neighbourhood():
    # N = 300 and k = 20: the k most similar must be exactly those (argpartition's kth is k - 1, not a neighbour)
    x, y = _case(300, 5, shift=0.15, seed=3)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = xn @ xn.T
    np.fill_diagonal(sim, -np.inf)
    top = np.argsort(-sim, axis=1)[:, :20]
    votes = np.zeros((300, 4))
    for i in range(300):
        np.add.at(votes[i], y[top[i]], np.exp(sim[i, top[i]] / 0.07))
    assert knn_accuracy(x, y) == pytest.approx(np.mean(votes.argmax(1) == y))


def test_knn_in_row_blocks_equals_all_rows_at_once(monkeypatch):
    import hfnet.ranking.knn as knn_module

    x, y = _case(300, 5, shift=0.15, seed=3)
    whole, whole_k3 = knn_accuracy(x, y), knn_accuracy(x, y, k=3, temperature=0.5)
    for rows in (1, 7, 64, 299):  # blocks of 1, 7, 64 and 299 rows (the last block shorter, or a single row)
        monkeypatch.setattr(knn_module, "BLOCK_ELEMENTS", rows * 300)
        assert knn_accuracy(x, y) == whole
        assert knn_accuracy(x, y, k=3, temperature=0.5) == whole_k3
    monkeypatch.setattr(knn_module, "BLOCK_ELEMENTS", 64 * 300)
    # a sample's own row is left out in every block: duplicating one sample into another class changes its vote
    dup_x, dup_y = np.vstack([x, x[:1]]), np.append(y, (y[0] + 1) % 4)
    assert knn_accuracy(dup_x, dup_y, k=1) == pytest.approx(
        np.mean(
            [
                dup_y[
                    np.argmax(np.where(np.arange(301) == i, -np.inf, dup_x @ dup_x[i] / np.linalg.norm(dup_x, axis=1)))
                ]
                == dup_y[i]
                for i in range(301)
            ]
        )
    )


def test_knn_zero_features_and_sharp_votes_stay_finite():
    x, y = _case(40, 5, shift=0.6, seed=4)
    # an all-zero feature row (a dead ReLU layer) has cosine 0 with every sample: no NaN, the others unchanged
    zero = np.vstack([x, np.zeros((1, 5))])
    zy = np.append(y, 0)
    xn = zero / np.maximum(np.linalg.norm(zero, axis=1, keepdims=True), 1e-300)
    sim = xn @ xn.T
    np.fill_diagonal(sim, -np.inf)
    first = np.argmax(sim, axis=1)
    assert np.isfinite(sim[:-1, :-1][~np.eye(40, dtype=bool)]).all()
    assert knn_accuracy(zero, zy, k=1) == pytest.approx(np.mean(zy[first] == zy))
    # a temperature of 1e-3 puts exp(similarity / T) far beyond float range; shifted by the largest cosine, the
    # vote is the nearest neighbour's (k = 1) and never NaN
    assert knn_accuracy(x, y, temperature=1e-3) == knn_accuracy(x, y, k=1)


def test_knn_small_sets_and_bad_arguments():
    with pytest.raises(HfnetError, match="^k-NN accuracy needs at least two samples$"):
        knn_accuracy(np.ones((1, 3)), np.array([0]))
    two = np.array([[1.0, 0.0], [0.9, 0.1]])
    assert knn_accuracy(two, np.array([0, 1])) == 0.0  # each one's only neighbour is the other class
    assert knn_accuracy(two, np.array([1, 1])) == 1.0
    x, y = _case(9, 3, shift=2.0)  # k = 20 clipped to N - 1 = 8 neighbours
    assert knn_accuracy(x, y) == knn_accuracy(x, y, k=8)
    assert knn_accuracy(x, y, k=1) == pytest.approx(
        np.mean(
            [
                y[np.argmax(np.where(np.arange(9) == i, -np.inf, x @ x[i] / np.linalg.norm(x, axis=1)))] == y[i]
                for i in range(9)
            ]
        )
    )
    for bad in ({"k": 0}, {"temperature": 0.0}, {"k": 0, "temperature": 1.0}, {"k": 5, "temperature": -1.0}):
        with pytest.raises(HfnetError, match="k must be >= 1 and temperature > 0"):
            knn_accuracy(x, y, **bad)
    with pytest.raises(HfnetError, match="at least two samples"):
        knn_accuracy(x[:1], y[:1])


# ------------------------------------------------------------------------------------------------- TransRate
def test_transrate_matches_the_coding_rate_formula():
    x, y = _case(40, 8)

    def rate(z, eps=1e-4):
        n, d = z.shape
        return 0.5 * np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))[1]

    z = x - x.mean(0)
    direct = rate(z) - sum(rate(z[y == c]) for c in range(4)) / 4
    assert transrate(x, y) == pytest.approx(direct, rel=1e-9)
    wide = np.random.default_rng(2).normal(size=(20, 50))  # D > N: Gram-matrix path
    zw = wide - wide.mean(0)
    yw = np.arange(20) % 2
    assert transrate(wide, yw) == pytest.approx(rate(zw) - (rate(zw[yw == 0]) + rate(zw[yw == 1])) / 2, rel=1e-9)


def test_transrate_passes_its_distortion_to_every_coding_rate():
    x, y = _case(40, 8)
    z = x - x.mean(0)

    def rate(m, eps):
        return 0.5 * np.linalg.slogdet(np.eye(m.shape[1]) + m.T @ m / (m.shape[0] * eps))[1]

    for eps in (1e-2, 1.0):
        direct = rate(z, eps) - sum(rate(z[y == c], eps) for c in range(4)) / 4
        assert transrate(x, y, eps=eps) == pytest.approx(direct, rel=1e-9)


# ------------------------------------------------------------------------------------------------------ PARC
def test_parc_matches_pairwise_dissimilarities_by_loops():
    x, y = _case(25, 6, shift=0.3)
    z = (x - x.mean(0)) / x.std(0)
    onehot = np.eye(4)[y]
    fs, ls = [], []
    for i in range(25):
        for j in range(i + 1, 25):
            fs.append(1 - np.corrcoef(z[i], z[j])[0, 1])
            ls.append(1 - np.corrcoef(onehot[i], onehot[j])[0, 1])
    ls = np.round(ls, 12)
    rf, rl = rankdata(fs), rankdata(ls)
    direct = np.corrcoef(rf, rl)[0, 1] * 100
    assert parc(x, y, dims=None) == pytest.approx(direct, rel=1e-9)
    assert parc(x, y, dims=32) == pytest.approx(direct, rel=1e-9)  # 6 < 32 dims: no reduction


# ------------------------------------------------------------------------------------------- shrinkage H-score
@pytest.mark.parametrize("n, d", [(80, 10), (30, 60)])
def test_shrinkage_h_score_matches_ledoit_wolf_and_pinv(n, d):
    from sklearn.covariance import LedoitWolf

    x, y = _case(n, d)
    lw = LedoitWolf().fit(x)
    means = np.stack([x[y == c].mean(0) for c in range(4)])
    direct = np.trace(np.linalg.pinv(lw.covariance_) @ ((1 - lw.shrinkage_) * np.cov(means[y], rowvar=False)))
    assert shrinkage_h_score(x, y) == pytest.approx(direct, rel=1e-7)


# ----------------------------------------------------------------------------------------------------- NLEEP
def test_nleep_is_leep_on_gaussian_mixture_posteriors():
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    x, y = _case(80, 6, k=2)
    order = np.lexsort(x.T[::-1])
    xs, ys = x[order], y[order]
    z = PCA(n_components=0.8, svd_solver="full").fit_transform(xs)
    post = GaussianMixture(n_components=10, random_state=0).fit(z).predict_proba(z)
    joint = np.stack([post[ys == c].sum(0) for c in range(2)]) / 80
    cond = joint / joint.sum(0)
    direct = np.mean([np.log(post[i] @ cond[ys[i]]) for i in range(80)])
    assert nleep(x, y) == pytest.approx(direct, rel=1e-9)
    assert nleep(x, y, log=False) == pytest.approx(np.mean([post[i] @ cond[ys[i]] for i in range(80)]), rel=1e-9)
    clusters = np.repeat(np.eye(2) * 50, 40, axis=0) + np.random.default_rng(0).normal(size=(80, 2))
    assert nleep(clusters, np.repeat([0, 1], 40)) == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------------------------------- semantic LogME
def _semantic_case(seed=0, informative=True):
    rng = np.random.default_rng(seed)
    n, k = 60, 3
    labels = np.arange(n) % k
    features = rng.normal(size=(n, 8)) + 0.4 * np.eye(k, 8)[labels]
    logits = rng.normal(size=(n, k)) + (3.0 * np.eye(k)[labels] if informative else 0)
    distances = 2.0 - 1.5 * np.eye(k) + 0.1 * rng.random((k, k))  # source class z is named like target class z
    return features, softmax(logits), labels, distances


def test_semantic_logme_is_logme_without_names_and_never_below_it():
    f, p, y, d = _semantic_case()
    assert semantic_logme(f, p, y, None) == pytest.approx(logme(f, y), rel=1e-12)
    score, weights = semantic_logme(f, p, y, d, return_weights=True)
    assert score > logme(f, y) + 1e-3 and np.all(weights > 0)  # informative names add evidence
    f2, p2, y2, d2 = _semantic_case(informative=False)
    assert semantic_logme(f2, p2, y2, d2) >= logme(f2, y2) - 1e-12


def test_semantic_logme_maximises_the_evidence_over_the_semantic_weight():
    f, p, y, d = _semantic_case(seed=3)
    s = semantic_predictions(p, d)
    sigma, u = left_spectrum(unit_scale(f))  # sem_logme, like LogME, reads the features at unit RMS row norm
    _, weights = semantic_logme(f, p, y, d, return_weights=True)
    best = []
    for c in range(3):
        target = (y == c).astype(float)
        grid = np.linspace(0, 2 * weights[c] + 0.5, 801)
        best.append(max(maximise_evidence(u, sigma, target - lam * s[:, c], 8)[0] for lam in grid))
    assert semantic_logme(f, p, y, d) == pytest.approx(np.mean(best), abs=1e-5)


def test_semantic_logme_ignores_constant_semantics_and_relabelling():
    f, p, y, d = _semantic_case()
    uniform = np.full_like(p, 1 / p.shape[1])  # a head that says nothing about the image: no semantic evidence
    assert semantic_logme(f, uniform, y, d) == pytest.approx(logme(f, y), rel=1e-8)  # to the fixed point's tol
    perm = np.array([2, 0, 1])  # target class c becomes perm[c]; the distance columns move with it
    d_perm = np.empty_like(d)
    d_perm[:, perm] = d
    assert semantic_logme(f, p, perm[y], d_perm) == pytest.approx(semantic_logme(f, p, y, d), rel=1e-9)


# ------------------------------------------------------------------------------------------------ invariances
def test_new_scores_ignore_sample_order_and_class_numbering():
    f, p, y, d = _semantic_case(seed=5)
    order = np.random.default_rng(7).permutation(len(y))
    for name in ("sfda", "knn", "nleep", "parc", "transrate", "hscore_shrinkage", "sem_logme"):
        metric = METRICS[name]
        base = metric.fn(ScoreInputs(p, f, y, d))
        assert metric.fn(ScoreInputs(p[order], f[order], y[order], d)) == pytest.approx(base, rel=1e-9), name
        if name != "sem_logme":  # the class-name score needs the distance columns permuted too (tested above)
            assert metric.fn(ScoreInputs(p, f, np.array([7, 2, 9])[y], d)) == pytest.approx(base, rel=1e-9), name


# ------------------------------------------------------------------------------------------------- directions
def test_every_default_score_ranks_a_better_model_higher():
    """A model whose features separate the target classes and whose head predicts classes named like the targets
    must beat a model with noise features and an unrelated head, under every score's declared direction."""
    rng = np.random.default_rng(11)
    n, k = 120, 4
    labels = np.arange(n) % k
    distances = 3.0 - 2.5 * np.eye(k) + 0.2 * rng.random((k, k))
    good = ScoreInputs(
        softmax(4.0 * np.eye(k)[labels] + rng.normal(size=(n, k))),
        rng.normal(size=(n, 16)) + 2.5 * np.eye(k, 16)[labels],
        labels,
        distances,
    )
    bad = ScoreInputs(softmax(rng.normal(size=(n, k))), rng.normal(size=(n, 16)), labels, distances)
    for name in DEFAULT_METRICS:
        metric = METRICS[name]
        if metric.set_relative:  # computed over a candidate set: tested in test_ranking_ncti_etran.py
            continue
        g, b = metric.fn(good), metric.fn(bad)
        assert (g > b) == metric.higher_is_better, (
            f"{name}: good {g} bad {b}, higher_is_better={metric.higher_is_better}"
        )
