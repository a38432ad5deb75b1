"""Each score's invariances, as its maths promises them, and its documented non-invariances.

One table (``PROMISES``) says, for every registered per-candidate score and for NCTI's three per-candidate terms,
what each transformation of the inputs must do to the value: ``SAME`` (invariant), ``DOUBLE`` (a sum over samples
under duplication), ``VARIES`` (the docstring says the score depends on it: it must move), or nothing (not promised,
not tested). The transformations:

- ``offset``: a common vector (entries up to 300) added to every feature row;
- ``scale``: the features times 0.01 and times 1000 (``VARIES``: at least one of the two moves the value);
- ``order``: the samples shuffled;
- ``duplicates``: every sample twice;
- ``renaming``: the target classes permuted (the word-vector distance columns move with them);
- ``ids``: the target classes numbered 7, 2, 5 (scores that read no class-name distances);
- ``source``: the source classes permuted (the source logits' columns and the distance rows together);
- ``columns``: the feature dimensions permuted;
- ``rotation``: the features times a random orthogonal matrix (scores built from traces, Gram spectra or cosines).

Two shapes: N > D (the ``F^T F`` paths) and D > N (the Gram-matrix paths). Then the score-specific invariances the
table cannot express (LEEP's source classes, NCE's temperature, H-score's affine invariance, the semantic score's
distance offsets, the energy's shift, NCTI's normalisation over the candidates) and the regressions the issue
measured (SFDA offset, PARC order at D > 32 and N < 32, LogME scale up to 1e9).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from hfnet.ranking.emd import word_vector_emd, word_vector_emd_mean
from hfnet.ranking.etran import energy_score, lda_score
from hfnet.ranking.hscore import h_score
from hfnet.ranking.knn import knn_accuracy
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import logme
from hfnet.ranking.metrics import METRICS, ScoreInputs
from hfnet.ranking.nce import nce
from hfnet.ranking.ncti import TERMS, ncti, ncti_terms
from hfnet.ranking.parc import parc
from hfnet.ranking.semantic import semantic_logme
from hfnet.ranking.sfda import sfda
from hfnet.ranking.softmax_max import softmax

SAME, DOUBLE, VARIES = "same", "double", "varies"
CHECKS = ("offset", "scale", "order", "duplicates", "renaming", "ids", "source", "columns", "rotation")
LABELS = {"renaming": SAME, "ids": SAME}
FEATURES = {"order": SAME, "renaming": SAME, "ids": SAME, "columns": SAME}
AFFINE = {**FEATURES, "offset": SAME, "scale": SAME, "duplicates": SAME, "rotation": SAME}

PROMISES: dict[str, dict[str, str]] = {
    # source softmax only
    "softmax_max": {"order": SAME, "duplicates": DOUBLE, "source": SAME},
    "softmax_max_mean": {"order": SAME, "duplicates": SAME, "source": SAME},
    "emd": {"order": SAME, "duplicates": DOUBLE, "renaming": SAME, "source": SAME},
    "emd_mean": {"order": SAME, "duplicates": SAME, "renaming": SAME, "source": SAME},
    "leep": {"order": SAME, "duplicates": SAME, **LABELS, "source": SAME},
    "nce": {"order": SAME, "duplicates": SAME, **LABELS, "source": SAME},
    # features: tr(cov^+ cov_between) is invariant to any invertible affine map of the features
    "hscore": AFFINE,
    "hscore_reference": AFFINE,
    # Ledoit-Wolf shrinks to (tr S / D) I: scale and rotations, not duplicates (its intensity depends on N)
    "hscore_shrinkage": {**AFFINE, "duplicates": None},
    # LogME has no intercept (not offset-invariant) and its evidence per sample depends on N
    "logme": {**FEATURES, "scale": SAME, "rotation": SAME},
    "logme_reference": {**FEATURES, "scale": VARIES, "rotation": SAME},
    "sem_logme": {"order": SAME, "renaming": SAME, "source": SAME, "columns": SAME, "scale": SAME, "rotation": SAME},
    # the mixture is fitted on a canonical order of the samples (sorted by their features): order, labels; PCA centres
    "nleep": {"order": SAME, **LABELS, "offset": SAME},
    # the shrinkage exp(-5 lambda_max(S_w)) depends on the scale; its power iteration starts from the ones vector,
    # so a permutation of the dimensions is exact and a rotation is not
    "sfda": {**FEATURES, "offset": SAME, "duplicates": SAME, "scale": VARIES},
    "etran_lda": {**FEATURES, "offset": SAME, "duplicates": SAME, "scale": VARIES},
    "etran_energy": {"order": SAME, "columns": SAME, "duplicates": SAME, "scale": VARIES, "offset": VARIES},
    "etran": {**FEATURES, "duplicates": SAME, "scale": VARIES},
    # correlations of standardised features against label dissimilarities: pairs of duplicates add zero distances
    "parc": {**FEATURES, "offset": SAME, "scale": SAME},
    # coding rates with a fixed eps: centred, rotation- and duplicate-invariant (n eps scales with N), not scale
    "transrate": {**FEATURES, "offset": SAME, "duplicates": SAME, "rotation": SAME, "scale": VARIES},
    # cosine similarities: scale and rotation, not an offset; a duplicate is every sample's nearest neighbour
    "knn": {**FEATURES, "scale": SAME, "rotation": SAME},
    # NCTI's per-candidate terms (normalised over the candidates afterwards): traces, distances, singular values
    **{f"ncti.{t}": AFFINE for t in TERMS},
}


@dataclass(frozen=True)
class Case:
    logits: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    distances: np.ndarray

    def inputs(self) -> ScoreInputs:
        return ScoreInputs(softmax(self.logits), self.features, self.labels, self.distances)


def _case(n: int, d: int, k: int = 3, n_s: int = 5, seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    features = rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y] + 0.5
    logits = 2.0 * rng.normal(size=(n, n_s)) + 2.0 * np.eye(k, n_s)[y]
    return Case(logits, features, y, rng.uniform(0.5, 3.0, size=(n_s, k)))


def _transform(case: Case, check: str) -> list[Case]:
    rng = np.random.default_rng(17)
    n, d = case.features.shape
    if check == "scale":
        return [replace(case, features=s * case.features) for s in (1e-2, 1e3)]
    return [_transform_once(case, check, rng)]


def _transform_once(case: Case, check: str, rng: np.random.Generator) -> Case:
    n, d = case.features.shape
    if check == "offset":
        return replace(case, features=case.features + rng.uniform(-300, 300, size=d))
    if check == "order":
        p = rng.permutation(n)
        return replace(case, logits=case.logits[p], features=case.features[p], labels=case.labels[p])
    if check == "duplicates":
        return Case(*(np.concatenate([a, a]) for a in (case.logits, case.features, case.labels)), case.distances)
    if check == "renaming":
        perm = np.array([2, 0, 1])  # class c becomes perm[c]; its distance column moves with it
        moved = np.empty_like(case.distances)
        moved[:, perm] = case.distances
        return replace(case, labels=perm[case.labels], distances=moved)
    if check == "ids":
        return replace(case, labels=np.array([7, 2, 5])[case.labels])
    if check == "source":
        p = rng.permutation(case.logits.shape[1])
        return replace(case, logits=case.logits[:, p], distances=case.distances[p])
    if check == "columns":
        return replace(case, features=case.features[:, rng.permutation(d)])
    if check == "rotation":
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        return replace(case, features=case.features @ q)
    raise ValueError(check)


def _score(name: str, case: Case) -> float:
    if name.startswith("ncti."):
        return ncti_terms(case.features, case.labels)[name.split(".")[1]]
    return float(METRICS[name].fn(case.inputs()))


PAIRS = [(name, check) for name, promises in PROMISES.items() for check in CHECKS if promises.get(check)]


def test_the_table_covers_every_per_candidate_score():
    per_candidate = {name for name, m in METRICS.items() if not m.set_relative}
    assert per_candidate <= set(PROMISES), per_candidate - set(PROMISES)


@pytest.mark.parametrize("n, d", [(90, 12), (30, 48)], ids=["N>D", "D>N"])
@pytest.mark.parametrize("name, check", PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_score_invariances(name, check, n, d):
    if name == "nleep" and d > n:
        pytest.skip("15 full-covariance mixture components on 30 samples: not a meaningful fit")
    case = _case(n, d)
    base = _score(name, case)
    values = [_score(name, other) for other in _transform(case, check)]
    promise = PROMISES[name][check]
    if promise == SAME:
        assert values == pytest.approx([base] * len(values), rel=1e-6, abs=1e-9), f"{name} changed under {check}"
    elif promise == DOUBLE:
        assert values == pytest.approx([2 * base], rel=1e-9), f"{name} is a sum over samples: duplicates double it"
    else:
        assert any(v != pytest.approx(base, rel=1e-3) for v in values), f"{name} is documented to depend on {check}"


# ------------------------------------------------------------------------------- what the table cannot express
def test_leep_ignores_an_unused_source_class_and_a_split_one():
    case = _case(60, 4)
    p, y = softmax(case.logits), case.labels
    base = leep(p, y)
    # a source class no sample predicts carries no mass: P(y | z) of an empty column must not poison the sum
    assert leep(np.concatenate([p, np.zeros((60, 1))], axis=1), y) == pytest.approx(base, rel=1e-12)
    # splitting a source class into two equal halves leaves P(y | z) of each half equal to the whole's: same EEP
    split = np.concatenate([p[:, :1] / 2, p[:, :1] / 2, p[:, 1:]], axis=1)
    assert leep(split, y) == pytest.approx(base, rel=1e-12)
    # and the source head matters: a shuffled head is worse
    assert leep(p[np.random.default_rng(0).permutation(60)], y) < base


def test_nce_reads_only_the_source_argmax():
    case = _case(60, 4)
    base = nce(softmax(case.logits), case.labels)
    for temperature in (0.1, 10.0):  # same argmax, other probabilities
        assert nce(softmax(case.logits / temperature), case.labels) == pytest.approx(base, rel=1e-12)
    unused = np.concatenate([softmax(case.logits), np.zeros((60, 1))], axis=1)
    assert nce(unused, case.labels) == pytest.approx(base, rel=1e-12)
    assert base < 0  # the head does not predict the labels perfectly: the invariances above are not vacuous


def test_h_score_is_invariant_to_any_invertible_affine_map():
    case = _case(90, 6)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    base = h_score(case.features, case.labels)
    assert h_score(case.features @ a + rng.normal(size=6), case.labels) == pytest.approx(base, rel=1e-8)
    assert 0 < base < 2  # K - 1 = 2 is its value for perfectly separated classes


def test_knn_ignores_each_sample_s_own_scale():
    case = _case(60, 8)
    scales = np.random.default_rng(2).uniform(0.01, 100.0, size=(60, 1))
    base = knn_accuracy(case.features, case.labels)
    assert knn_accuracy(scales * case.features, case.labels) == base
    assert 0.4 < base < 1.0


def test_semantic_logme_ignores_the_distances_scale_and_row_and_column_offsets():
    case = _case(60, 8)
    rng = np.random.default_rng(4)
    f = rng.normal(size=(60, 8)) + 0.3 * np.eye(3, 8)[case.labels]  # weak features: the names can add evidence
    p = softmax(case.logits)
    d = 3.0 - 2.5 * np.eye(5, 3) + 0.2 * rng.random((5, 3))  # source class c is named like target class c
    base, weights = semantic_logme(f, p, case.labels, d, return_weights=True)
    # e_ic = p_i . d[:, c]: a row offset a_z adds the same p_i . a to every class, a column offset b_c a constant
    # over the samples (removed by the centring), and lambda absorbs a scale
    moved = 3.0 * d + rng.uniform(0, 2, size=(d.shape[0], 1)) + rng.uniform(0, 2, size=(1, d.shape[1]))
    assert semantic_logme(f, p, case.labels, moved) == pytest.approx(base, rel=1e-8)
    assert np.any(weights > 0)  # the names do carry evidence here, so the invariance is not that of plain LogME


def test_emd_is_linear_in_the_distances():
    case = _case(40, 4)
    p, y, d = softmax(case.logits), case.labels, case.distances
    assert word_vector_emd(p, y, 3.0 * d) == pytest.approx(3.0 * word_vector_emd(p, y, d), rel=1e-12)
    # every softmax row sums to 1: a common distance offset c moves every sample's EMD by exactly c
    assert word_vector_emd_mean(p, y, d + 0.7) == pytest.approx(word_vector_emd_mean(p, y, d) + 0.7, rel=1e-12)


def test_energy_shifts_by_a_common_offset_of_every_coordinate():
    case = _case(400, 6)
    f = case.features
    # logsumexp(f + c) = logsumexp(f) + c for every sample, so the lowest samples stay the lowest
    for fraction in (0.005, 0.1, 1.0):
        assert energy_score(f + 2.5, fraction) == pytest.approx(energy_score(f, fraction) + 2.5, rel=1e-12)
    assert energy_score(f, 0.1) < energy_score(f, 0.5) < energy_score(f, 1.0)  # the lowest tail first


# -------------------------------------------------------------------------------- NCTI: relative to the set
def _terms(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {"vc": -rng.uniform(0.5, 3), "seli": rng.uniform(0.3, 1), "ncc": -rng.uniform(0.1, 2)}


def test_ncti_follows_the_candidates_and_ignores_each_term_s_units():
    terms = [_terms(s) for s in range(5)]
    values = ncti(terms)
    perm = [3, 0, 4, 1, 2]
    assert ncti([terms[i] for i in perm]) == pytest.approx([values[i] for i in perm], rel=1e-12)
    # min-max normalisation: a positive affine change of one term over all candidates changes nothing
    rescaled = [{**t, "vc": 7.0 * t["vc"] - 3.0} for t in terms]
    assert ncti(rescaled) == pytest.approx(values, rel=1e-12)
    # a candidate best in every term scores 3, one worst in every term 0; every value lies between
    best = {name: max(t[name] for t in terms) + 1 for name in TERMS}
    worst = {name: min(t[name] for t in terms) - 1 for name in TERMS}
    with_extremes = ncti([*terms, best, worst])
    assert with_extremes[-2] == pytest.approx(3.0) and with_extremes[-1] == pytest.approx(0.0)
    assert all(0 < v < 3 for v in with_extremes[:-2])


def test_ncti_of_a_candidate_moves_when_another_joins_as_documented():
    case = _case(90, 12)
    y, good = case.labels, case.features
    bad = _case(90, 12, seed=1).features - 1.4 * np.eye(3, 12)[y]  # weaker class structure
    pair = ncti([ncti_terms(good, y), ncti_terms(bad, y)])
    assert pair == pytest.approx([2.0, 1.0])  # good: best vc and ncc; bad: class means a little closer to a simplex
    # a candidate inside every term's range, or a rescaled copy (same terms), leaves the others' values alone
    for other in (0.5 * (good + bad), 1.1 * good):
        trio = ncti([ncti_terms(good, y), ncti_terms(bad, y), ncti_terms(other, y)])
        assert trio[:2] == pytest.approx(pair, rel=1e-9) and 0 < trio[2] < 3
    # a candidate that is a new extreme changes every other value: the score is relative to the set
    better = good + 2.0 * np.eye(3, 12)[y]
    trio = ncti([ncti_terms(good, y), ncti_terms(bad, y), ncti_terms(better, y)])
    assert trio[0] < pair[0] - 0.1 and trio[1] != pytest.approx(pair[1])


# --------------------------------------------------------------------------------- regressions of issue 18
def test_sfda_ignores_a_large_common_offset():
    case = _case(n=90, d=20)
    f, y = case.features, case.labels
    base = sfda(f, y)
    for offset in (100.0, 300.0, 3000.0):
        assert sfda(f + offset, y) == pytest.approx(base, rel=1e-6)
    assert base > 1 / 3 + 0.1
    assert lda_score(f + 1e3, y) == pytest.approx(lda_score(f, y), rel=1e-6)


def test_parc_is_order_invariant_beyond_32_features_and_below_32_samples():
    rng = np.random.default_rng(0)
    for n, d in ((200, 64), (20, 64)):  # D > 32 reaches the PCA; N < 32 leaves fewer components than 32
        y = np.arange(n) % 4
        f = rng.normal(size=(n, d)) + np.eye(4, d)[y]
        values = [parc(f[p], y[p]) for p in (np.arange(n), *(rng.permutation(n) for _ in range(3)))]
        assert np.ptp(values) < 1e-6, (n, d, values)
        assert parc(f * 1e4 + 7, y) == pytest.approx(values[0], abs=1e-6)


def test_parc_drops_noise_components_when_the_rank_is_below_32():
    rng = np.random.default_rng(2)
    y = np.arange(20) % 2
    f = rng.normal(size=(20, 64)) + np.eye(2, 64)[y]
    # rank 19 after centring: the 20th component is rounding noise; a copy padded with zero columns has the same
    # non-zero spectrum, so PARC must not change (it did when noise was scaled to unit variance)
    padded = np.concatenate([f, np.zeros((20, 30))], axis=1)
    assert parc(padded, y) == pytest.approx(parc(f, y), abs=1e-6)


def test_logme_is_scale_invariant_and_never_divides_by_zero():
    case = _case(n=80, d=30)
    f, y = case.features, case.labels
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    base = logme(f, y)
    for scale in (1e-3, 1e4, 1e9):
        assert logme(scale * f, y) == pytest.approx(base, rel=1e-6)
    # the reference keeps its raw-scale behaviour (its 1e-5 constants), exactly: it moves with the scale
    assert abs(logme(1e4 * f, y, reference=True) - logme(f, y, reference=True)) > 0.1
