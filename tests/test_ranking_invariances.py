"""Each score's invariances, as its maths promises them: common feature offset and scale (where invariant), sample
order, duplicated samples, label renaming; and the regressions the issue measured (SFDA offset, PARC order at
D > 32 and N < 32, LogME scale up to 1e9)."""

import numpy as np
import pytest

from hfnet.ranking.etran import lda_score
from hfnet.ranking.logme import logme
from hfnet.ranking.metrics import METRICS, ScoreInputs
from hfnet.ranking.ncti import ncti_terms
from hfnet.ranking.parc import parc
from hfnet.ranking.sfda import sfda
from hfnet.ranking.softmax_max import softmax

# (offset, scale, order, duplicates, renaming) each score is invariant to
INVARIANT = {
    "sfda": (True, False, True, True, True),
    "parc": (True, True, True, False, True),
    "logme": (False, True, True, False, True),
    "etran_lda": (True, False, True, True, True),
    "knn": (False, True, True, False, True),  # cosine similarity: not offset-invariant
    "hscore": (True, False, True, True, True),
}


def _case(n=60, d=40, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    f = rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y] + 0.5
    return f, y


def _value(name, f, y):
    return float(METRICS[name].fn(ScoreInputs(softmax(np.zeros((len(y), 2))), f, y)))


@pytest.mark.parametrize("name", sorted(INVARIANT))
def test_score_invariances(name):
    offset, scale, order, duplicates, renaming = INVARIANT[name]
    f, y = _case()
    base = _value(name, f, y)
    perm = np.random.default_rng(1).permutation(len(y))
    checks = {
        "offset": (offset, _value(name, f + 300.0, y)),
        "scale": (scale, _value(name, 1e3 * f, y)),
        "order": (order, _value(name, f[perm], y[perm])),
        "duplicates": (duplicates, _value(name, np.concatenate([f, f]), np.concatenate([y, y]))),
        "renaming": (renaming, _value(name, f, np.array([7, 2, 5])[y])),
    }
    for what, (promised, value) in checks.items():
        if promised:
            assert value == pytest.approx(base, rel=1e-6, abs=1e-9), f"{name} changed under {what}"


def test_sfda_ignores_a_large_common_offset():
    f, y = _case(n=90, d=20)
    base = sfda(f, y)
    for offset in (100.0, 300.0, 3000.0):
        assert sfda(f + offset, y) == pytest.approx(base, rel=1e-6)
    assert base > 1 / 3 + 0.1


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
    f, y = _case(n=80, d=30)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    base = logme(f, y)
    for scale in (1e-3, 1e4, 1e9):
        assert logme(scale * f, y) == pytest.approx(base, rel=1e-6)
    # the reference keeps its raw-scale behaviour (its 1e-5 constants), exactly: it moves with the scale
    assert abs(logme(1e4 * f, y, reference=True) - logme(f, y, reference=True)) > 0.1


def test_ncti_terms_invariances():
    f, y = _case()
    base = ncti_terms(f, y)
    perm = np.random.default_rng(1).permutation(len(y))
    for other in (
        ncti_terms(1e3 * f + 300.0, y),
        ncti_terms(f[perm], y[perm]),
        ncti_terms(np.concatenate([f, f]), np.concatenate([y, y])),
        ncti_terms(f, np.array([7, 2, 5])[y]),
    ):
        assert other == pytest.approx(base, rel=1e-6)


def test_etran_lda_ignores_offset_but_not_every_change():
    f, y = _case()
    assert lda_score(f + 1e3, y) == pytest.approx(lda_score(f, y), rel=1e-6)
    assert lda_score(f, np.random.default_rng(0).permutation(y)) < lda_score(f, y)
