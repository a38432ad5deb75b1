"""NCTI, ETran and the recommended rank combination against hand computations on small inputs."""

import numpy as np
import pytest
from scipy.special import logsumexp

from hfnet.errors import HfnetError
from hfnet.ranking.etran import REFERENCE_FRACTION, energy_score, etran, lda_score, reference_etran
from hfnet.ranking.ncti import ncti, ncti_terms, reference_ncti_terms
from hfnet.ranking.recommended import RULE, mean_ranks, recommended_scores

F = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0], [1.0, 1.0], [1.0, 3.0]])
Y = np.array([0, 0, 1, 1, 0, 1])


def test_ncti_terms_equal_a_hand_computation():
    # class means (1, 1/3) and (1, 11/3); global mean (1, 2); centred means (0, -5/3), (0, 5/3)
    within = ((1 + 1 / 9) + (1 + 1 / 9) + (0 + 4 / 9)) * 2 / 6  # mean squared distance to the class mean
    between = (25 / 9 + 25 / 9) * 3 / 6
    terms = ncti_terms(F, Y)
    assert terms["vc"] == pytest.approx(-within / between)
    assert terms["seli"] == pytest.approx(1.0)  # two class means: one non-zero singular value
    var = within / 2
    means = np.array([[1.0, 1 / 3], [1.0, 11 / 3]])
    logits = -((F[:, None, :] - means[None]) ** 2).sum(-1) / (2 * var) + np.log(0.5)
    expected = np.mean(logits[np.arange(6), Y] - logsumexp(logits, axis=1))
    assert terms["ncc"] == pytest.approx(expected)


def test_ncti_seli_is_one_for_a_simplex_and_lower_otherwise():
    simplex = np.repeat(np.eye(3), 4, axis=0) + 1e-3 * np.random.default_rng(0).normal(size=(12, 3))
    y = np.repeat(np.arange(3), 4)
    assert ncti_terms(simplex, y)["seli"] == pytest.approx(1.0, abs=1e-3)
    skewed = simplex * np.array([1.0, 1.0, 6.0])
    assert ncti_terms(skewed, y)["seli"] < 0.95


def test_ncti_normalises_each_term_over_the_candidates():
    terms = [{"vc": -2.0, "seli": 0.5, "ncc": -1.0}, {"vc": -1.0, "seli": 0.9, "ncc": -3.0}, None]
    values = ncti(terms)
    assert values[0] == pytest.approx(1.0) and values[1] == pytest.approx(2.0) and values[2] is None
    # a third candidate changes the others' values: the score is relative to the set
    more = ncti([*terms[:2], {"vc": -4.0, "seli": 0.1, "ncc": -1.0}])
    assert more[0] != pytest.approx(values[0])
    assert ncti([terms[0]]) == [0.0]  # alone: every term equal over the set


def test_energy_is_the_mean_logsumexp_of_the_lowest_fraction():
    f = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0], [5.0, 5.0]])
    energy = logsumexp(f, axis=1)
    assert energy_score(f, 1.0) == pytest.approx(energy.mean())
    assert energy_score(f, 0.5) == pytest.approx(np.sort(energy)[:2].mean())
    assert energy_score(f) == pytest.approx(energy.min())  # 0.5 % of 4 samples: at least one
    assert REFERENCE_FRACTION == 0.005


def test_lda_score_equals_the_shrunk_lda_posterior_by_hand():
    x = F - F.mean(0)
    means = np.stack([x[Y == c].mean(0) for c in (0, 1)])
    sw = sum(0.5 * np.cov(x[Y == c].T, bias=True) for c in (0, 1))
    # the authors' shrinkage: 3 power-iteration steps on S_w, exp(-5 lambda); checked through the result
    lam = np.linalg.eigvalsh(sw).max()
    s = max(np.exp(-5 * lam), 1e-10)
    shrunk = (1 - s) * sw + s * np.trace(sw) / 2 * np.eye(2)
    coef = means @ np.linalg.inv(shrunk)
    logits = x @ coef.T - 0.5 * np.sum(means * coef, axis=1) + np.log(0.5)
    p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    assert lda_score(F, Y) == pytest.approx(p[np.arange(6), Y].mean(), rel=1e-4)
    assert etran(F, Y) == pytest.approx(energy_score(F) + lda_score(F, Y))


def test_recommended_is_the_mean_rank_with_missing_values_last():
    ranks = mean_ranks([0.3, None, 0.9, 0.3])
    assert list(ranks) == [2.5, 4.0, 1.0, 2.5]
    scores, used = recommended_scores(
        {"logme": [1.0, 2.0, 3.0], "leep": [3.0, 2.0, 1.0], "ncti": [0.0, 2.0, 1.0], "source_accuracy": [None] * 3}
    )
    assert used == ["logme", "leep", "ncti"]  # no candidate reports an accuracy: left out
    assert scores == pytest.approx([(3 + 1 + 3) / 3, (2 + 2 + 1) / 3, (1 + 3 + 2) / 3])
    again, _ = recommended_scores(
        {"logme": [1.0, 2.0, 3.0], "leep": [3.0, 2.0, 1.0], "ncti": [0.0, 2.0, 1.0], "source_accuracy": [None] * 3}
    )
    assert again == scores  # deterministic
    assert all(name in RULE for name in ("leep", "ncti", "knn", "source accuracy"))  # the default rule, v4


def test_ncti_nearest_centre_term_uses_the_class_priors():
    y = np.array([0, 0, 1, 1, 0, 0])  # imbalanced: the prior log(n_c / N) matters
    terms = ncti_terms(F, y)
    x = F - F.mean(0)
    means = np.stack([x[y == c].mean(0) for c in (0, 1)])
    var = np.sum((x - means[y]) ** 2) / 6 / 2
    logits = -((x[:, None, :] - means[None]) ** 2).sum(-1) / (2 * var) + np.log([4 / 6, 2 / 6])
    expected = np.mean(logits[np.arange(6), y] - logsumexp(logits, axis=1))
    assert terms["ncc"] == pytest.approx(expected)


# the authors' NCTI_Score (github.com/BUserName/NCTI): one shrinkage LDA on a PCA of the features
G = np.array([[0.0, 0.0], [1.5, 0.5], [0.5, 2.0], [2.0, 1.0], [1.0, 1.5], [2.5, 3.0], [0.5, 3.5], [1.5, 2.5]])
GY = np.array([0, 0, 0, 1, 1, 1, 0, 1])


def _nuclear(m):
    return np.linalg.svd(m, compute_uv=False).sum()


def _softmax_rows(logits):
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def _reference_by_hand(f, y):
    """The authors' terms for D <= 32 features, where their PCA keeps every component (a rotation of the centred
    data, which the LDA does not see): sklearn's shrinkage LDA written out with D x D matrices."""
    from scipy import linalg

    classes = np.unique(y)
    k, d = len(classes), f.shape[1]
    x = f - f.mean(0)
    shrink = np.exp(-np.trace(np.cov(f.T)))  # the 32 largest PCA variances: here all of them, with ddof 1
    assert 1e-10 < shrink < 1  # the shrunk ("eigen") branch

    def shrunk(z):
        s = np.cov(z.T, bias=True)
        return (1 - shrink) * s + shrink * np.trace(s) / d * np.eye(d)

    priors = np.array([np.mean(y == c) for c in classes])
    means = np.stack([x[y == c].mean(0) for c in classes])
    sw = sum(p * shrunk(x[y == c]) for p, c in zip(priors, classes))  # shrunk per class, then weighted
    evals, vecs = linalg.eigh(shrunk(x) - sw, sw)
    vecs = vecs[:, np.argsort(evals)[::-1]]
    low = x @ vecs[:, : k - 1]  # K - 1 discriminant directions
    coef = means @ vecs @ vecs.T
    prob = _softmax_rows(x @ coef.T - 0.5 * np.sum(means * coef, axis=1) + np.log(priors))
    return {
        "vc": -np.log(sum(_nuclear(prob[y == c]) for c in classes)),
        "seli": _nuclear(low - low.mean(0)),
        "ncc": prob[np.arange(len(y)), np.searchsorted(classes, y)].mean(),
    }


@pytest.mark.parametrize("k", [2, 3])
def test_reference_ncti_terms_equal_the_authors_shrinkage_lda_by_hand(k):
    if k == 2:
        f, y = G, GY
    else:  # three classes: a class-wise nuclear norm is not that of the other classes, a 2-column one not Frobenius
        rng = np.random.default_rng(5)
        y = np.arange(12) % 3
        f = rng.normal(size=(12, 3)) + np.eye(3)[y]
    terms = reference_ncti_terms(f, y)
    assert terms == pytest.approx(_reference_by_hand(f, y), rel=1e-8)
    assert 0.5 < terms["ncc"] < 0.97  # overlapping classes: not a degenerate posterior


def test_reference_ncti_terms_keep_the_authors_64_exact_pca_components():
    rng = np.random.default_rng(6)
    y = np.arange(300) % 3
    f = rng.normal(size=(300, 600)) + 0.5 * np.eye(3, 600)[y]
    # the exact 64 leading principal components; their own PCA is then a rotation with the same variances
    centred = f - f.mean(0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:64].T
    expected = reference_ncti_terms(centred @ top, y)
    # more components (no cap) give other terms; sklearn's default solver would be randomised here (600 features
    # > 500): an approximate projection
    assert reference_ncti_terms(f, y) == pytest.approx(expected, rel=1e-6)


def test_reference_ncti_terms_use_the_unshrunk_lda_at_the_shrinkage_floor():
    big = 10.0 * G  # PCA variances sum to 100x: exp(-sum) below 1e-10, so the authors switch to the svd solver
    assert np.exp(-np.trace(np.cov(big.T))) < 1e-10
    x = big - big.mean(0)
    means = np.stack([x[GY == c].mean(0) for c in (0, 1)])
    resid = x - means[GY]
    pooled = resid.T @ resid / 8  # scikit-learn's svd solver whitens the within-class scatter with 1 / N
    w = np.linalg.solve(pooled, means[1] - means[0])
    w /= np.sqrt(w @ pooled @ w)  # unit within-class variance along the discriminant
    inv = np.linalg.inv(pooled)
    logits = x @ (means @ inv).T - 0.5 * np.einsum("kd,de,ke->k", means, inv, means) + np.log(0.5)
    prob = _softmax_rows(logits)
    terms = reference_ncti_terms(big, GY)
    assert terms["seli"] == pytest.approx(np.linalg.norm(x @ w), rel=1e-8)
    assert terms["ncc"] == pytest.approx(prob[np.arange(8), GY].mean(), rel=1e-8)
    assert terms["vc"] == pytest.approx(-np.log(_nuclear(prob[GY == 0]) + _nuclear(prob[GY == 1])), rel=1e-8)


def test_reference_ncti_is_the_authors_combination_plus_one():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 4
    sets = [rng.normal(size=(120, 80)) + s * np.eye(4, 80)[y] for s in (0.5, 1.0, 2.0)]  # D > 64: the PCA reduces
    terms = [reference_ncti_terms(f, y) for f in sets]

    def n(v):
        v = np.asarray(v)
        return (v - v.min()) / (v.max() - v.min())

    # evaluate_metric_group1_cpu.py: n(seli) + n(ncc) - n(log sum_c ||P_c||_*)
    authors = n([t["seli"] for t in terms]) + n([t["ncc"] for t in terms]) - n([-t["vc"] for t in terms])
    assert ncti(terms) == pytest.approx(list(authors + 1), rel=1e-12)
    assert np.argmax(authors) == 2  # the best-separated features rank first
    perm = rng.permutation(120)
    assert reference_ncti_terms(sets[0][perm], y[perm]) == pytest.approx(terms[0], rel=1e-8)
    assert reference_ncti_terms(sets[0] + 50.0, np.array([3, 9, 4, 1])[y]) == pytest.approx(terms[0], rel=1e-6)


def test_reference_etran_is_the_authors_weighted_min_max_combination():
    energies, ldas = [10.0, 30.0, 20.0], [0.9, 0.5, 0.6]
    # tw.py: 0.15 * (e - min) / span + 0.85 * (l - min) / span
    expected = [0.15 * 0.0 + 0.85 * 1.0, 0.15 * 1.0 + 0.85 * 0.0, 0.15 * 0.5 + 0.85 * 0.25]
    assert reference_etran(energies, ldas) == pytest.approx(expected, rel=1e-12)
    # the plain sum follows the energy here; the authors' weights follow the LDA term
    plain = [e + lda for e, lda in zip(energies, ldas)]
    assert np.argmax(plain) == 1 and np.argmax(reference_etran(energies, ldas)) == 0
    assert reference_etran([5.0, 5.0], [0.2, 0.4]) == pytest.approx([0.0, 0.85])  # a constant term counts 0
    assert reference_etran([3.0, 1.0], [0.5, 0.5]) == pytest.approx([0.15, 0.0])
    with pytest.raises(HfnetError, match="1 energy scores for 2 LDA scores"):
        reference_etran([1.0], [0.5, 0.6])
    assert reference_etran([], []) == []


def test_ncti_and_etran_fail_clearly_on_degenerate_inputs():
    y = np.array([0, 0, 1, 1])
    with pytest.raises(HfnetError, match="class means coincide"):
        ncti_terms(np.array([[0.0], [1.0], [0.0], [1.0]]), y)  # both class means 0.5: tr(S_b) = 0 exactly
    with pytest.raises(HfnetError, match="do not vary within any class"):
        ncti_terms(np.array([[0.0], [0.0], [1.0], [1.0]]), y)
    for fn in (ncti_terms, reference_ncti_terms, lda_score):
        with pytest.raises(HfnetError, match="at least two target classes"):
            fn(F, np.zeros(6, dtype=int))
    for fraction in (0.0, -0.1, 1.5):
        with pytest.raises(HfnetError, match="energy fraction"):
            energy_score(F, fraction)
    assert ncti([None, None]) == [None, None]


def test_etran_uses_the_shared_lda_fit_and_its_fraction():
    # the registry fits the LDA once for SFDA and ETran and passes it in: the score must read that fit
    given = np.tile([0.25, 0.75], (6, 1))
    assert lda_score(F, Y, posteriors=(given, 0.1)) == pytest.approx(np.mean([[0.25, 0.75][c] for c in Y]))
    assert etran(F, Y, fraction=1.0) == pytest.approx(energy_score(F, 1.0) + lda_score(F, Y))
    assert etran(F, Y, fraction=1.0) != pytest.approx(etran(F, Y))
    assert etran(F, Y, posteriors=(given, 0.1)) == pytest.approx(energy_score(F) + 0.5)
    # the LDA reads centred features: a large offset must not reach the inverse of the barely shrunk scatter
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    f = rng.normal(size=(90, 20)) + np.eye(3, 20)[y]
    offset = rng.uniform(-1e6, 1e6, size=20)  # one per dimension: a scalar mean would not remove it
    assert lda_score(f + offset, y) == pytest.approx(lda_score(f, y), rel=1e-8)  # uncentred: about 1 / K


def test_ncti_seli_counts_collinear_class_means_as_rank_one():
    # three class means exactly on a line, each class two samples symmetric about its mean: the centred class-mean
    # matrix has one singular value; the second is rounding noise, which must not count as a direction
    v = np.array([0.3, -1.2, 0.7, 2.0])
    u = np.array([[1.0, 0.5, -0.2, 0.1], [-0.3, 1.0, 0.4, -0.6]])
    f = np.concatenate([np.stack([c * v + w, c * v - w]) for c in (-1.0, 0.1, 1.3) for w in u])
    y = np.repeat([0, 1, 2], 4)
    assert ncti_terms(f, y)["seli"] == pytest.approx(1.0, abs=1e-12)


def test_ncti_nearest_centre_term_stays_finite_for_a_far_outlier():
    # one sample thousands of within-class deviations from every class mean: its log-posterior needs the row-wise
    # shift before the exponential (without it, every class's likelihood underflows to 0)
    rng = np.random.default_rng(7)
    y = np.arange(4000) % 2
    f = rng.normal(size=(4000, 1)) + 3.0 * y[:, None]
    f[0] = 5e3
    terms = ncti_terms(f, y)
    assert np.isfinite(terms["ncc"]) and terms["ncc"] < 0


def test_etran_reference_is_the_authors_combination_over_the_ranked_candidates():
    """``finalise`` gives each candidate with terms ``reference_etran`` of all of them; one whose terms failed gets
    None and takes no part in the min-max; the note names the score as set-relative."""
    from hfnet.ranking.metrics import METRICS, ScoreInputs, metric_terms
    from hfnet.ranking.ranker import CandidateResult, Ranking, finalise

    rng = np.random.default_rng(3)
    y = np.arange(60) % 3
    feats = [rng.normal(size=(60, 8)) + s * np.eye(3, 8)[y] for s in (0.5, 2.0, 4.0)]
    terms = [metric_terms(METRICS["etran_reference"], ScoreInputs(None, f, y)) for f in feats]
    assert terms[0] == pytest.approx({"energy": energy_score(feats[0]), "lda": lda_score(feats[0], y)})
    candidates = [CandidateResult(n, terms={"etran_reference": t}) for n, t in zip("abc", terms)]
    candidates.append(CandidateResult("d"))  # its terms failed
    ranking = Ranking(["etran_reference"], {"etran_reference": True}, candidates, 60, 3, ["x", "y", "z"])
    finalise(ranking)
    expected = reference_etran([t["energy"] for t in terms], [t["lda"] for t in terms])
    assert [c.scores["etran_reference"] for c in candidates[:3]] == pytest.approx(expected)
    assert candidates[3].scores["etran_reference"] is None
    assert ranking.set_relative == ["etran_reference"]
    assert any(n.startswith("etran_reference are computed over the candidate set") for n in ranking.notes)
    assert max(expected) <= 1.0 and min(expected) >= 0.0
