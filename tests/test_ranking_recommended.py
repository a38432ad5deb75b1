"""The recommended rules: v1 (mean of four component ranks, the default) and v2 (their median, by name), against a
hand computation; deterministic; documented tie rules; both computed over the candidate set by ``finalise``."""

from __future__ import annotations

import pytest

from hfnet.ranking.metrics import DEFAULT_METRICS, get_metrics
from hfnet.ranking.ranker import CandidateResult, Ranking, finalise
from hfnet.ranking.recommended import DEFAULT_RULE, RULE, RULE_BY_METRIC, RULES, recommended_scores

# four candidates a-d; a has the best features but reports no source accuracy (ranks last there)
COMPONENTS = {
    "logme": [4.0, 3.0, 2.0, 1.0],  # ranks a1 b2 c3 d4
    "leep": [4.0, 3.0, 2.0, 1.0],  # a1 b2 c3 d4
    "ncti": [4.0, 3.0, 1.0, 2.0],  # a1 b2 c4 d3
    "source_accuracy": [None, 0.9, 0.8, 0.7],  # a4 (missing) b1 c2 d3
}


def test_v1_mean_and_v2_median_of_the_component_ranks_by_hand():
    mean, used = recommended_scores(COMPONENTS, "mean")
    assert used == ["logme", "leep", "ncti", "source_accuracy"]
    # a (1,1,1,4), b (2,2,2,1), c (3,3,4,2), d (4,4,3,3)
    assert mean == pytest.approx([7 / 4, 7 / 4, 12 / 4, 14 / 4])
    median, _ = recommended_scores(COMPONENTS, "median")
    assert median == pytest.approx([1.0, 2.0, 3.0, 3.5])  # four components: the mean of the two middle ranks
    assert recommended_scores(COMPONENTS, "median") == (median, used)  # deterministic
    with pytest.raises(ValueError, match="aggregate"):
        recommended_scores(COMPONENTS, "max")


def _ranking(metrics):
    """A ranking whose component scores are COMPONENTS (NCTI given as a value: ``finalise`` recomputes it only when
    it is among the metrics)."""
    candidates = [
        CandidateResult(
            name,
            scores={m: COMPONENTS[m][i] for m in ("logme", "leep", "ncti")},
            reported={}
            if COMPONENTS["source_accuracy"][i] is None
            else {"source_accuracy": COMPONENTS["source_accuracy"][i]},
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


def test_finalise_computes_both_rules_and_ties_go_to_the_better_logme():
    ranking = _ranking(["logme", "leep", "recommended", "recommended_v2"])
    scores = {c.name: (c.scores["recommended"], c.scores["recommended_v2"]) for c in ranking.candidates}
    assert scores["a"] == pytest.approx((1.75, 1.0)) and scores["b"] == pytest.approx((1.75, 2.0))
    # v1: a and b tie at 1.75, a has the better LogME; v2: a alone first
    assert ranking.ranks("recommended") == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert ranking.ranks("recommended_v2") == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert set(ranking.set_relative) == {"recommended", "recommended_v2"}
    assert ranking.recommended_components == ["logme", "leep", "ncti", "source_accuracy"]


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


def test_the_default_is_the_pre_registered_v1_and_v2_is_by_name():
    assert DEFAULT_RULE == "v1" and RULE == RULES["v1"].text
    assert RULE_BY_METRIC["recommended"] is RULES["v1"] and RULES["v1"].aggregate == "mean"
    assert RULES["v1"].commit == "0a4da7d"
    assert RULE_BY_METRIC["recommended_v2"].aggregate == "median" and "median" in RULES["v2"].text
    assert "recommended" in DEFAULT_METRICS and "recommended_v2" not in DEFAULT_METRICS
    names = [m.name for m in get_metrics(["recommended_v2"])]
    assert names == ["logme", "leep", "ncti", "recommended_v2"]  # its components are computed first
    for rule in RULES.values():
        assert all(c in rule.text for c in ("logme", "leep", "ncti", "source accuracy", "ties to logme"))
