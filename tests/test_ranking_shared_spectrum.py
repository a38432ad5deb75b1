"""The feature spectra the ranking shares between scores: every score gives exactly the value it gives on its own,
and each spectrum is computed once per candidate."""

from __future__ import annotations

import numpy as np
import pytest

import hfnet.ranking.metrics as metrics_module
from hfnet.ranking.hscore import h_score, shrinkage_h_score
from hfnet.ranking.logme import logme
from hfnet.ranking.metrics import METRICS, ScoreInputs
from hfnet.ranking.parc import parc
from hfnet.ranking.semantic import semantic_logme

ALONE = {
    "hscore": lambda s: h_score(s.features, s.labels),
    "hscore_shrinkage": lambda s: shrinkage_h_score(s.features, s.labels),
    "logme": lambda s: logme(s.features, s.labels),
    "parc": lambda s: parc(s.features, s.labels),
    "sem_logme": lambda s: semantic_logme(s.features, s.probs, s.labels, s.distances),
}


def _inputs(n: int, d: int, seed: int = 0) -> ScoreInputs:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    features = rng.normal(size=(n, d)) + 2.0 * labels[:, None] * rng.normal(size=d) + 5.0  # offset: centring matters
    probs = rng.dirichlet(np.ones(4), size=n)
    distances = rng.uniform(0.5, 2.0, size=(4, 3))
    return ScoreInputs(probs=probs, features=features.astype(np.float32), labels=labels, distances=distances)


@pytest.mark.parametrize(("n", "d"), [(40, 64), (90, 12)])  # D > N (PARC's PCA), N > D
def test_shared_spectra_give_each_score_its_own_value(n, d, monkeypatch):
    inputs = _inputs(n, d)
    calls = []
    real = metrics_module.left_spectrum
    monkeypatch.setattr(metrics_module, "left_spectrum", lambda f: calls.append(f.shape) or real(f))
    shared = {name: METRICS[name].fn(inputs) for name in ALONE}
    assert len(calls) == 2  # one centred, one at unit scale, for five scores
    assert set(inputs.shared) == {"spectrum/centred", "spectrum/unit"}
    for name, alone in ALONE.items():
        assert shared[name] == pytest.approx(float(alone(inputs)), rel=1e-12, abs=1e-12), name
    # the reference forms do not take the shared spectrum (other thresholds, raw features)
    assert METRICS["hscore_reference"].fn(inputs) == pytest.approx(h_score(inputs.features, inputs.labels, rtol=1e-15))
    assert METRICS["logme_reference"].fn(inputs) == pytest.approx(
        logme(inputs.features, inputs.labels, reference=True)
    )


def test_the_spectrum_kinds_are_what_they_say():
    inputs = _inputs(30, 50)
    f = inputs.features.astype(np.float64)
    sigma_c, u_c = inputs.spectrum("centred")
    centred = f - f.mean(axis=0)
    assert np.sort(sigma_c)[-1] == pytest.approx(np.linalg.svd(centred, compute_uv=False)[0] ** 2)
    assert len(sigma_c) == 29  # centring removes one direction
    sigma_u, _ = inputs.spectrum("unit")
    rms = np.sqrt(np.mean(np.sum(f * f, axis=1)))
    assert np.sort(sigma_u)[-1] == pytest.approx(np.linalg.svd(f / rms, compute_uv=False)[0] ** 2)
    assert len(sigma_u) == 30
    assert inputs.spectrum("centred")[0] is sigma_c  # cached
    with pytest.raises(ValueError, match="'centred' or 'unit'"):
        inputs.spectrum("raw")


def test_class_sums_equal_a_loop_over_the_rows():
    from hfnet.ranking._linalg import class_sums

    rng = np.random.default_rng(3)
    x = rng.normal(size=(25, 7))
    y = rng.integers(0, 3, size=25)  # class 3 has no sample: a zero row
    expected = np.zeros((4, 7))
    for row, label in zip(x, y):
        expected[label] += row
    assert class_sums(x, y, 4) == pytest.approx(expected, abs=1e-12)
    assert not class_sums(x, y, 4)[3].any()
