"""The recommended rules: v4 (the default: mean of the leep, ncti, knn and source-accuracy ranks, the source accuracy
only when comparable, ties to ncti), v3 (the same with logme instead of knn, by name), v1 (mean of the four v3 ranks,
by name) and v2 (their median, by name), against a hand computation; deterministic; documented tie rules; all computed
over the candidate set by ``finalise``."""

from __future__ import annotations

import pytest

from hfnet.ranking.metrics import DEFAULT_METRICS, get_metrics
from hfnet.ranking.ranker import CandidateResult, Ranking, finalise
from hfnet.ranking.recommended import (
    DEFAULT_RULE,
    RULE,
    RULE_BY_METRIC,
    RULES,
    comparable_source_accuracy,
    dataset_key,
    recommended_scores,
)

# four candidates a-d; a has the best features but reports no source accuracy (ranks last there)
COMPONENTS = {
    "logme": [4.0, 3.0, 2.0, 1.0],  # ranks a1 b2 c3 d4
    "leep": [4.0, 3.0, 2.0, 1.0],  # a1 b2 c3 d4
    "ncti": [4.0, 3.0, 1.0, 2.0],  # a1 b2 c4 d3
    "source_accuracy": [None, 0.9, 0.8, 0.7],  # a4 (missing) b1 c2 d3
    "knn": [3.0, 2.0, 4.0, 1.0],  # a2 b3 c1 d4
}
SCORED = ("logme", "leep", "ncti", "knn")


def test_v1_mean_and_v2_median_of_the_component_ranks_by_hand():
    v1 = {c: COMPONENTS[c] for c in ("logme", "leep", "ncti", "source_accuracy")}
    mean, used = recommended_scores(v1, "mean")
    assert used == ["logme", "leep", "ncti", "source_accuracy"]
    # a (1,1,1,4), b (2,2,2,1), c (3,3,4,2), d (4,4,3,3)
    assert mean == pytest.approx([7 / 4, 7 / 4, 12 / 4, 14 / 4])
    median, _ = recommended_scores(v1, "median")
    assert median == pytest.approx([1.0, 2.0, 3.0, 3.5])  # four components: the mean of the two middle ranks
    assert recommended_scores(v1, "median") == (median, used)  # deterministic
    assert recommended_scores(v1) == (mean, used)  # the mean by default
    with pytest.raises(ValueError, match="aggregate"):
        recommended_scores(v1, "max")


def _ranking(metrics, datasets=("ImageNet-1k",) * 4):
    """A ranking whose component scores are COMPONENTS (NCTI given as a value: ``finalise`` recomputes it only when
    it is among the metrics); candidate i reports its source accuracy on ``datasets[i]``."""
    candidates = [
        CandidateResult(
            name,
            scores={m: COMPONENTS[m][i] for m in SCORED},
            reported={}
            if COMPONENTS["source_accuracy"][i] is None
            else {"source_accuracy": COMPONENTS["source_accuracy"][i], "source_dataset": datasets[i]},
        )
        for i, name in enumerate("abcd")
    ]
    ranking = Ranking(
        metrics=metrics,
        higher_is_better={m.name: m.higher_is_better for m in get_metrics(metrics)},
        candidates=candidates,
        num_samples=4,
        num_target_classes=2,
        target_classes=["x", "y"],
    )
    return finalise(ranking)


def test_finalise_computes_every_rule_and_ties_go_to_the_rules_tie_score():
    rules = ("recommended", "recommended_v3", "recommended_v1", "recommended_v2")
    ranking = _ranking(["logme", "leep", "knn", *rules])
    scores = {c.name: tuple(c.scores[m] for m in rules) for c in ranking.candidates}
    # one source dataset: v3 uses the source accuracy, so it equals v1; v4 = leep, ncti, knn, source accuracy:
    # a (1,1,2,4) b (2,2,3,1) c (3,4,1,2) d (4,3,4,3)
    assert scores["a"] == pytest.approx((2.0, 1.75, 1.75, 1.0))
    assert scores["b"] == pytest.approx((2.0, 1.75, 1.75, 2.0))
    assert scores["c"] == pytest.approx((2.5, 3.0, 3.0, 3.0))
    assert scores["d"] == pytest.approx((3.5, 3.5, 3.5, 3.5))
    # v4: a and b tie at 2.0, a has the better NCTI; v3 / v1: a and b tie at 1.75, a has the better LogME; v2: a first
    for metric in rules:
        assert ranking.ranks(metric) == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert set(ranking.set_relative) == set(rules)
    assert ranking.recommended_components == ["leep", "ncti", "knn", "source_accuracy"]
    assert not any(n.startswith("source accuracy left out") for n in ranking.notes)


def test_v4_and_v3_leave_out_source_accuracies_reported_on_different_datasets():
    # b on ImageNet, c and d on MNIST: not one scale
    ranking = _ranking(
        ["logme", "leep", "knn", "recommended", "recommended_v3", "recommended_v1"],
        ("ImageNet", "ImageNet-1k", "MNIST", "mnist"),
    )
    v4 = {c.name: c.scores["recommended"] for c in ranking.candidates}
    v3 = {c.name: c.scores["recommended_v3"] for c in ranking.candidates}
    v1 = {c.name: c.scores["recommended_v1"] for c in ranking.candidates}
    # v4 = the mean of the leep, ncti and knn ranks: a (1,1,2) b (2,2,3) c (3,4,1) d (4,3,4)
    assert v4 == pytest.approx({"a": 4 / 3, "b": 7 / 3, "c": 8 / 3, "d": 11 / 3})
    # v3 = the mean of the logme, leep and ncti ranks: a (1,1,1) b (2,2,2) c (3,3,4) d (4,4,3)
    assert v3 == pytest.approx({"a": 1.0, "b": 2.0, "c": 10 / 3, "d": 11 / 3})
    assert v1 == pytest.approx({"a": 1.75, "b": 1.75, "c": 3.0, "d": 3.5})  # v1 uses it whatever its dataset
    assert ranking.recommended_components == ["leep", "ncti", "knn"]
    why = "the candidates report it on different datasets (ImageNet-1k, MNIST)"
    note = f"source accuracy left out of recommended: {why}"
    assert ranking.notes.count(note) == 1
    assert ranking.notes.count(f"source accuracy left out of recommended_v3: {why}") == 1
    assert not any(n.startswith("source accuracy left out of recommended_v1") for n in ranking.notes)
    # finalise again (the rank job does, after gathering shards): the note is not repeated
    assert finalise(ranking).notes.count(note) == 1
    assert ranking.to_dict()["notes"].count(note) == 1


def test_source_datasets_compare_without_case_or_punctuation():
    assert dataset_key("ImageNet-1k") == dataset_key("imagenet 1K") == "imagenet1k"
    assert dataset_key("ImageNet") != dataset_key("ImageNet-21k")
    assert dataset_key(None) is None and dataset_key(" - ") is None
    same = [
        {"source_accuracy": 0.8, "source_dataset": "ImageNet-1k"},
        {"source_accuracy": 0.7, "source_dataset": "imagenet_1k"},
    ]
    assert comparable_source_accuracy([*same, {}]) == (True, None)  # a candidate reporting nothing does not count
    assert comparable_source_accuracy([{}, {"source_dataset": "MNIST"}]) == (True, None)  # a name without a value
    ok, why = comparable_source_accuracy([*same, {"source_accuracy": 0.9}])
    assert not ok and why == "1 of the 3 candidates reporting one name no source dataset"
    ok, why = comparable_source_accuracy([*same, {"source_accuracy": 0.9, "source_dataset": "CIFAR-10"}])
    assert not ok and why == "the candidates report it on different datasets (CIFAR-10, ImageNet-1k)"
    assert comparable_source_accuracy([]) == (True, None)


def test_v2_ties_go_to_the_better_logme():
    ranking = Ranking(
        metrics=["logme", "recommended_v2"],
        higher_is_better={"logme": True, "recommended_v2": False},
        candidates=[
            CandidateResult("a", scores={"logme": -0.5, "recommended_v2": 2.0}),
            CandidateResult("b", scores={"logme": -0.2, "recommended_v2": 2.0}),
            CandidateResult("c", scores={"logme": -0.1, "recommended_v2": 2.5}),
        ],
        num_samples=3,
        num_target_classes=2,
        target_classes=["x", "y"],
    )
    assert ranking.ranks("recommended_v2") == {"b": 1, "a": 2, "c": 3}


def test_v4_ties_go_to_the_better_ncti_not_logme():
    ranking = Ranking(
        metrics=["logme", "ncti", "recommended"],
        higher_is_better={"logme": True, "ncti": True, "recommended": False},
        candidates=[
            CandidateResult("a", scores={"logme": -0.1, "ncti": 1.0, "recommended": 2.0}),
            CandidateResult("b", scores={"logme": -0.5, "ncti": 2.0, "recommended": 2.0}),
            CandidateResult("c", scores={"logme": 0.3, "ncti": 3.0, "recommended": 2.5}),
        ],
        num_samples=3,
        num_target_classes=2,
        target_classes=["x", "y"],
    )
    assert ranking.ranks("recommended") == {"b": 1, "a": 2, "c": 3}


def test_the_default_is_v4_and_v1_v2_v3_are_by_name():
    assert DEFAULT_RULE == "v4" and RULE == RULES["v4"].text
    assert RULE_BY_METRIC["recommended"] is RULES["v4"] and RULES["v4"].aggregate == "mean"
    assert RULES["v4"].components == ("leep", "ncti", "knn", "source_accuracy") and RULES["v4"].tie_break == "ncti"
    assert RULES["v4"].same_source_dataset and RULES["v3"].same_source_dataset
    assert not RULES["v1"].same_source_dataset and not RULES["v2"].same_source_dataset
    assert [RULES[v].commit for v in ("v1", "v2", "v3", "v4")] == ["0a4da7d", "81251c6", "dda3c1d", "4f335b6"]
    assert RULE_BY_METRIC["recommended_v1"] is RULES["v1"] and RULE_BY_METRIC["recommended_v3"] is RULES["v3"]
    assert RULE_BY_METRIC["recommended_v2"].aggregate == "median" and "median" in RULES["v2"].text
    assert "recommended" in DEFAULT_METRICS
    for by_name in ("recommended_v1", "recommended_v2", "recommended_v3"):
        assert by_name not in DEFAULT_METRICS
        names = [m.name for m in get_metrics([by_name])]
        assert names == ["logme", "leep", "ncti", by_name]  # its components are computed first
    assert [m.name for m in get_metrics(["recommended"])] == ["leep", "ncti", "knn", "recommended"]
    for rule in (RULES["v1"], RULES["v2"], RULES["v3"]):
        assert all(c in rule.text for c in ("logme", "leep", "ncti", "source accuracy", "ties to logme"))
    assert all(c in RULES["v4"].text for c in ("leep", "ncti", "knn", "source accuracy", "ties to ncti"))
    assert "logme" not in RULES["v4"].text
    assert "same source dataset" in RULES["v3"].text and "same source dataset" in RULES["v4"].text
