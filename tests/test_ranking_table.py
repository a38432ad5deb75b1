"""The ranking table: a score failing on one candidate is a note, never an abort; set-relative scores say so; the
candidate's self-reported columns come from its card, blank when absent; cache files follow the umask."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hfnet.ranking import metrics as metrics_module
from hfnet.ranking.ranker import rank_models
from hfnet.ranking.reported import reported_info, source_accuracy

CARD = """---
model-index:
- name: some-model
  results:
  - task:
      type: image-classification
    dataset:
      name: ImageNet-1k
      type: imagenet-1k
    metrics:
    - type: accuracy
      value: 81.2
---
# some model
"""


@pytest.fixture(scope="module")
def target(digits_small):
    return digits_small["test"]


@pytest.fixture(scope="module")
def two_models():
    from hfnet.zoo import tiny_resnet

    return [
        tiny_resnet([str(i) for i in range(10)], embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=s)
        for s in (1, 2)
    ]


def test_a_score_failing_on_one_candidate_leaves_every_other_score_and_candidate(target, two_models, monkeypatch):
    original = metrics_module.METRICS["logme"]
    calls = {"n": 0}

    def flaky(inputs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("float division by zero")  # what LogME raised near a feature scale of 1e9
        return original.fn(inputs)

    monkeypatch.setitem(metrics_module.METRICS, "logme", metrics_module.Metric("logme", flaky, True, False, "x"))
    ranking = rank_models(
        two_models, target, names=["a", "b"], metrics=["logme", "leep", "ncti", "recommended"], progress=False
    )
    a, b = ranking.candidates
    assert a.error is None and a.scores["logme"] is None and a.scores["leep"] is not None
    assert any("logme failed: ZeroDivisionError" in w for w in a.warnings)
    assert b.scores["logme"] is not None and a.scores["recommended"] is not None
    assert any("ncti and recommended are computed over the candidate set" in n for n in ranking.notes)
    assert ranking.to_dict()["set_relative"] == ["ncti", "recommended"]


def test_reported_accuracy_is_read_from_the_card_and_blank_without_one(tmp_path, target, two_models):
    assert source_accuracy(CARD) == (pytest.approx(0.812), "ImageNet-1k")
    assert source_accuracy("# no metadata") == (None, None)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text(CARD)
    assert reported_info(str(folder)) == {"source_accuracy": pytest.approx(0.812), "source_dataset": "ImageNet-1k"}
    assert reported_info(str(tmp_path / "missing")) == {}
    ranking = rank_models(
        two_models,
        target,
        names=["a", "b"],
        metrics=["recommended"],
        reported={"a": {"source_accuracy": 0.7, "source_dataset": "ImageNet-1k", "downloads": 12}},
        progress=False,
    )
    rows = {r["candidate"]: r for r in ranking.rows()}
    assert rows["a"]["source_accuracy"] == 0.7 and rows["a"]["downloads"] == 12
    assert rows["b"]["source_accuracy"] is None and rows["b"]["downloads"] is None
    assert ranking.recommended_components[-1] == "source_accuracy"  # one dataset named: comparable
    assert not any(n.startswith("source accuracy left out") for n in ranking.notes)
    # an accuracy that names no dataset cannot be compared with another: left out of recommended, said in the notes
    unnamed = rank_models(
        two_models,
        target,
        names=["a", "b"],
        metrics=["recommended"],
        reported={"a": {"source_accuracy": 0.7}, "b": {"source_accuracy": 0.6, "source_dataset": "ImageNet-1k"}},
        progress=False,
    )
    assert "source_accuracy" not in unnamed.recommended_components
    assert "source accuracy left out of recommended: 1 of the 2 candidates reporting one name no source dataset" in (
        unnamed.notes
    )


def test_cache_files_follow_the_umask(tmp_path):
    from hfnet.ranking.cache import CachedOutputs, FeatureCache

    old = os.umask(0o022)
    try:
        cache = FeatureCache(tmp_path)
        path = cache.save("k", CachedOutputs(np.zeros((2, 3)), np.ones((2, 4)), 5, None))
        assert path.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        path = cache.save("k2", CachedOutputs(np.zeros((2, 3)), np.ones((2, 4)), 5, None))
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
    assert cache.load("k").num_params == 5


def test_plot_bars_grow_with_quality_whatever_the_sign():
    from hfnet.ranking.plot import bar_lengths

    lengths = bar_lengths([-0.2, -3.0, -1.0, None], higher_is_better=True)
    assert lengths[0] == max(v for v in lengths if v is not None) and lengths[3] is None
    assert lengths[1] == min(v for v in lengths if v is not None) > 0
    lower = bar_lengths([5.0, 2.0, 9.0], higher_is_better=False)
    assert lower[1] == max(lower) and lower[2] == min(lower)


def test_recommended_v3_ties_go_to_the_better_logme():
    from hfnet.ranking.ranker import CandidateResult, Ranking

    ranking = Ranking(
        metrics=["logme", "recommended_v3"],
        higher_is_better={"logme": True, "recommended_v3": False},
        candidates=[
            CandidateResult("a", scores={"logme": -0.5, "recommended_v3": 1.5}),
            CandidateResult("b", scores={"logme": -0.2, "recommended_v3": 1.5}),
            CandidateResult("c", scores={"logme": -0.1, "recommended_v3": 3.0}),
        ],
        num_samples=3,
        num_target_classes=2,
        target_classes=["x", "y"],
    )
    assert ranking.ranks("recommended_v3") == {"b": 1, "a": 2, "c": 3}
    assert ranking.ranks("logme") == {"c": 1, "b": 2, "a": 3}
