"""rank_models: one forward pass per candidate, failures skipped, EMD only with class names, clear errors."""

from __future__ import annotations

import logging

import datasets
import numpy as np
import pytest

from hfnet.errors import HfnetError
from hfnet.ranking import leep, logme, softmax, softmax_max
from hfnet.ranking.ranker import forward_outputs, rank_models, select_samples

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(scope="module")
def target(digits_small):
    return digits_small["test"]  # 5 images of each digit


@pytest.fixture(scope="module")
def named_vit():
    from hfnet.zoo import tiny_vit

    return tiny_vit(FASHION, image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=2, seed=1)


@pytest.fixture(scope="module")
def unnamed_resnet():
    from hfnet.zoo import tiny_resnet

    clf = tiny_resnet(["a", "b", "c"], embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=2)
    clf.class_names = None
    return clf


def test_one_forward_pass_per_batch_and_scores_equal_the_pure_functions(target, named_vit, monkeypatch):
    calls = {"logits_and_features": 0}
    original = type(named_vit).logits_and_features

    def counting(self, x):
        calls["logits_and_features"] += 1
        return original(self, x)

    monkeypatch.setattr(type(named_vit), "logits_and_features", counting)
    ranking = rank_models([named_vit], target, names=["vit"], batch_size=16, progress=False)
    assert calls["logits_and_features"] == int(np.ceil(len(target) / 16))  # one pass, every score from it

    logits, features = forward_outputs(named_vit, target, batch_size=16, progress=False)
    labels = np.asarray(target["label"])
    scores = ranking.candidates[0].scores
    assert scores["softmax_max"] == pytest.approx(softmax_max(softmax(logits)))
    assert scores["leep"] == pytest.approx(leep(softmax(logits), labels))
    assert scores["logme"] == pytest.approx(logme(features, labels))
    assert scores["emd"] is not None and scores["emd"] > 0


def test_failing_candidate_is_skipped_and_unnamed_gets_all_but_emd(target, named_vit, unnamed_resnet, caplog):
    caplog.set_level(logging.WARNING, logger="hfnet.ranking")
    ranking = rank_models(
        [named_vit, "/definitely/not/a/model", unnamed_resnet],
        target,
        names=["vit", "missing", "resnet"],
        progress=False,
    )
    by_name = {c.name: c for c in ranking.candidates}
    assert "no such model folder" in by_name["missing"].error
    assert [c.name for c in ranking.ranked] == ["vit", "resnet"]
    resnet = by_name["resnet"]
    assert resnet.scores["emd"] is None and resnet.scores["emd_mean"] is None
    assert all(resnet.scores[m] is not None for m in ("softmax_max", "leep", "nce", "hscore", "logme"))
    assert any("no class names" in w for w in resnet.warnings)
    assert ranking.ranks("emd") == {"vit": 1, "resnet": None}
    assert set(ranking.ranks("logme").values()) == {1, 2}
    assert "missing" in caplog.text


def test_ranks_follow_each_score_direction(target, named_vit, unnamed_resnet):
    ranking = rank_models([named_vit, unnamed_resnet], target, names=["a", "b"], metrics=["logme"], progress=False)
    a, b = (c.scores["logme"] for c in ranking.candidates)
    assert ranking.ranks("logme") == ({"a": 1, "b": 2} if a > b else {"a": 2, "b": 1})
    ranking.higher_is_better["logme"] = False
    assert ranking.ranks("logme") == ({"a": 2, "b": 1} if a > b else {"a": 1, "b": 2})


def test_bad_targets_fail_clearly(target, named_vit):
    with pytest.raises(HfnetError, match="unknown metric"):
        rank_models([named_vit], target, metrics=["accuracy"], progress=False)
    with pytest.raises(HfnetError, match="empty"):
        rank_models([named_vit], target.select([]), progress=False)
    one_class = target.filter(lambda ex: ex["label"] == 3)
    with pytest.raises(HfnetError, match="at least two classes"):
        rank_models([named_vit], one_class, progress=False)
    with pytest.raises(HfnetError, match="no candidates"):
        rank_models([], target, progress=False)


def test_target_names_without_vectors(target, named_vit):
    features = datasets.Features(
        {"image": target.features["image"], "label": datasets.ClassLabel(names=[f"qwzxv{i}" for i in range(10)])}
    )
    odd = target.cast(features)
    ranking = rank_models([named_vit], odd, progress=False)  # default metrics: EMD dropped, the rest computed
    assert "emd" not in ranking.metrics and "logme" in ranking.metrics
    assert any("no word vector" in n for n in ranking.notes)
    with pytest.raises(HfnetError, match="--class-map"):
        rank_models([named_vit], odd, metrics=["emd"], progress=False)
    mapping = {f"qwzxv{i}": w for i, w in enumerate("zero one two three four five six seven eight nine".split())}
    ranking = rank_models([named_vit], odd, metrics=["emd"], class_map=mapping, progress=False)
    assert ranking.candidates[0].scores["emd"] > 0


def test_select_samples_is_class_balanced_and_seeded():
    labels = np.repeat(np.arange(4), [50, 30, 10, 10])
    idx = select_samples(labels, 20, seed=0)
    assert np.bincount(labels[idx], minlength=4).tolist() == [5, 5, 5, 5]
    assert np.array_equal(idx, select_samples(labels, 20, seed=0))
    assert not np.array_equal(idx, select_samples(labels, 20, seed=1))
    assert len(select_samples(labels, None)) == 100


def test_json_round_trip(target, named_vit, tmp_path):
    import json

    ranking = rank_models([named_vit], target, names=["vit"], metrics=["leep", "nce"], progress=False)
    data = json.loads(ranking.save_json(tmp_path / "r.json").read_text())
    assert data["metrics"] == ["leep", "nce"]
    assert data["candidates"][0]["scores"]["leep"] == pytest.approx(ranking.candidates[0].scores["leep"])
    assert data["ranks"]["leep"] == {"vit": 1}


def test_a_shard_keeps_positions_sizes_timings_and_the_sample_choice(target, named_vit, unnamed_resnet):
    metrics = ["logme", "leep"]
    kwargs = dict(metrics=metrics, num_samples=20, progress=False)
    shard = rank_models(
        [named_vit, unnamed_resnet, named_vit], target, names=["a", "b", "c"], batch_size=8, process_index=1,
        num_processes=2, **kwargs,
    )  # fmt: skip
    (c,) = shard.candidates
    assert (c.name, c.index, c.process, shard.num_samples) == ("b", 1, 1, 20)
    assert c.num_source_classes == 3 and c.num_params == sum(p.numel() for p in unnamed_resnet.parameters())
    assert c.forward_batches == 3  # 20 samples in batches of 8
    assert set(c.metric_seconds) == set(metrics) and all(0 <= s <= c.score_seconds for s in c.metric_seconds.values())
    assert 0 < c.score_seconds <= c.seconds < 60 and c.seconds <= shard.seconds < 600
    scores = lambda **kw: rank_models([unnamed_resnet], target, **kwargs, **kw).candidates[0].scores  # noqa: E731
    assert scores() == scores(seed=0) and scores(seed=0) != scores(seed=1)  # the samples are chosen with seed 0
