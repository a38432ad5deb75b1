"""hfnet.ranking.ranker piece by piece, without models: the rank order, table rows, JSON, sample choice, the
set-relative finalisation and how one score's failure becomes a note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hfnet.errors import HfnetError
from hfnet.ranking import ranker
from hfnet.ranking.metrics import Metric, ScoreInputs
from hfnet.ranking.ranker import CandidateResult, Ranking, finalise, select_samples


def _ranking(scores: dict[str, dict[str, float | None]], higher: dict[str, bool], **kwargs) -> Ranking:
    metrics = list(higher)
    candidates = [CandidateResult(name=n, scores=dict(s), index=i) for i, (n, s) in enumerate(scores.items())]
    return Ranking(
        metrics=metrics,
        higher_is_better=higher,
        candidates=candidates,
        num_samples=10,
        num_target_classes=2,
        target_classes=["a", "b"],
        **kwargs,
    )


def test_ranks_follow_the_direction_of_each_score_and_ties_share_the_better_rank():
    r = _ranking(
        {"a": {"up": 3.0, "down": 3.0}, "b": {"up": 1.0, "down": 1.0}, "c": {"up": 3.0, "down": 2.0}},
        {"up": True, "down": False},
    )
    assert r.ranks("up") == {"a": 1, "b": 3, "c": 1}
    assert r.ranks("down") == {"a": 3, "b": 1, "c": 2}


def test_ranks_leave_missing_and_non_finite_scores_out_and_failed_candidates_unranked():
    r = _ranking({"a": {"s": 1.0}, "b": {"s": None}, "c": {"s": float("nan")}, "d": {"s": 5.0}}, {"s": True})
    r.candidates[3].error = "could not load"
    assert r.ranks("s") == {"a": 1, "b": None, "c": None}
    assert [c.name for c in r.ranked] == ["a", "b", "c"]
    assert [c.name for c in r.failed] == ["d"]


def test_recommended_v3_ties_go_to_the_better_logme():
    r = _ranking(
        {
            "a": {"recommended_v3": 2.0, "logme": 0.1},
            "b": {"recommended_v3": 2.0, "logme": 0.9},
            "c": {"recommended_v3": 1.0},
        },
        {"recommended_v3": True, "logme": True},
    )
    assert r.ranks("recommended_v3") == {"b": 1, "a": 2, "c": 3}
    # a tied candidate without a LogME value comes after one with it, whatever LogME's sign (it is often negative)
    r.candidates[1].scores["logme"] = None
    assert r.ranks("recommended_v3") == {"a": 1, "b": 2, "c": 3}
    r.candidates[0].scores["logme"] = -3.0
    assert r.ranks("recommended_v3") == {"a": 1, "b": 2, "c": 3}
    r.candidates[1].scores["logme"] = float("nan")
    assert r.ranks("recommended_v3") == {"a": 1, "b": 2, "c": 3}
    r.candidates[1].scores["logme"] = -2.0
    assert r.ranks("recommended_v3") == {"b": 1, "a": 2, "c": 3}
    # where the tie-break score is lower-is-better, the lower value wins the tie
    r.higher_is_better["logme"] = False
    assert r.ranks("recommended_v3") == {"a": 1, "b": 2, "c": 3}
    # a score without a tie rule keeps ties even when LogME differs
    r2 = _ranking({"a": {"s": 2.0, "logme": 0.1}, "b": {"s": 2.0, "logme": 0.9}}, {"s": True, "logme": True})
    assert r2.ranks("s") == {"a": 1, "b": 1}


def test_rows_carry_every_value_rank_reported_column_seconds_and_only_real_errors():
    r = _ranking({"a": {"s": 2, "t": 1.5}, "b": {"s": 1, "t": None}}, {"s": True, "t": False})
    r.candidates[0].reported = {"source_accuracy": 0.75, "downloads": 12}
    r.candidates[0].seconds = 1.23456
    r.candidates[1].error = "boom"
    rows = r.rows()
    assert rows[0] == {
        "candidate": "a",
        "s": 2.0,
        "#s": 1,
        "t": 1.5,
        "#t": 1,
        "source_accuracy": 0.75,
        "source_dataset": None,
        "downloads": 12,
        "seconds": 1.23,
    }
    assert isinstance(rows[0]["s"], float)
    assert rows[1]["error"] == "boom" and rows[1]["s"] == 1.0 and rows[1]["#s"] is None and rows[1]["t"] is None


def test_save_json_makes_the_folders_and_writes_numpy_values_as_numbers(tmp_path):
    r = _ranking({"a": {"s": np.float32(0.5)}, "b": {"s": np.float64(0.25)}}, {"s": True})
    r.candidates[0].num_params = np.int64(7)
    path = r.save_json(tmp_path / "deep" / "er" / "ranking.json")
    text = path.read_text()
    data = json.loads(text)
    assert data["ranks"] == {"s": {"a": 1, "b": 2}}
    assert data["candidates"][0]["scores"]["s"] == 0.5 and data["candidates"][0]["num_params"] == 7
    assert "\n  " in text  # indented for people reading it
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        ranker._json_default(object())


def test_finalise_notes_the_set_relative_scores_once_and_keeps_other_notes():
    r = _ranking({"a": {}, "b": {}}, {"ncti": True}, notes=["word vectors skipped"])
    r.candidates[0].terms["ncti"] = {"vc": -1.0, "seli": 1.0, "ncc": -0.5}
    r.candidates[1].terms["ncti"] = {"vc": -0.5, "seli": 2.0, "ncc": -1.0}
    finalise(r)
    finalise(r)  # idempotent: the shards of a multi-process run are finalised again after gathering
    assert r.set_relative == ["ncti"]
    assert r.notes[0] == "word vectors skipped"
    assert sum("computed over the candidate set" in n for n in r.notes) == 1
    assert r.notes[-1].startswith("ncti are computed over the candidate set")
    assert all(c.scores["ncti"] is not None for c in r.candidates)
    plain = finalise(_ranking({"a": {"s": 1.0}}, {"s": True}, notes=["x"]))
    assert plain.notes == ["x"] and plain.set_relative == []


def test_finalise_gives_etran_reference_none_where_a_candidate_has_no_terms():
    r = _ranking({"a": {}, "b": {}, "c": {}}, {"etran_reference": True})
    r.candidates[0].terms["etran_reference"] = {"energy": 1.0, "lda": 0.2}
    r.candidates[2].terms["etran_reference"] = {"energy": 3.0, "lda": 0.6}
    finalise(r)
    s = {c.name: c.scores["etran_reference"] for c in r.candidates}
    assert s["b"] is None
    assert s["c"] == pytest.approx(1.0) and s["a"] == pytest.approx(0.0)  # min-max over the candidates that have terms


def test_select_samples_is_class_balanced_seeded_and_refuses_zero():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 7)
    idx = select_samples(labels, 9, seed=3)
    assert list(np.bincount(labels[idx], minlength=3)) == [3, 3, 3]
    assert list(idx) == sorted(idx) and len(set(idx)) == 9
    assert list(select_samples(labels, 9, seed=3)) == list(idx)
    assert list(select_samples(labels, 9)) == list(select_samples(labels, 9, seed=0))  # the documented default
    assert list(select_samples(labels, 9, seed=4)) != list(idx)
    few = select_samples(labels, 11, seed=0)  # class 1 runs out: the others fill in
    assert np.bincount(labels[few], minlength=3)[1] == 3 and len(few) == 11
    assert list(select_samples(labels, None)) == list(range(20))
    assert list(select_samples(labels, 20)) == list(range(20))
    assert len(select_samples(labels, 1)) == 1
    with pytest.raises(HfnetError, match="at least 1, got 0"):
        select_samples(labels, 0)


def test_messages_name_the_error_in_one_short_line():
    assert ranker._message(HfnetError("clear text")) == "clear text"
    assert ranker._message(ValueError("first line\nsecond")) == "ValueError: first line"
    assert ranker._message(RuntimeError("x" * 500)) == "RuntimeError: " + "x" * 200
    assert ranker._message(KeyError()) == "KeyError: "


def _metric(fn, *, needs=False, name="m") -> Metric:
    return Metric(name=name, fn=fn, higher_is_better=True, needs_class_names=needs, description="")


def _inputs(distances=None) -> ScoreInputs:
    return ScoreInputs(
        probs=np.full((4, 2), 0.5), features=np.eye(4, 3), labels=np.array([0, 1, 0, 1]), distances=distances
    )


def test_one_failing_or_non_finite_score_is_a_warning_and_no_value():
    result = CandidateResult(name="c")

    def boom(_):
        raise ValueError("singular matrix")

    assert ranker._score(_metric(boom, name="bad"), _inputs(), result) is None
    assert result.warnings == ["bad failed: ValueError: singular matrix"]
    assert ranker._score(_metric(lambda _: float("inf"), name="inf"), _inputs(), result) is None
    assert result.warnings[-1] == "inf failed: not finite (inf)"
    assert ranker._score(_metric(lambda _: 2.5), _inputs(), result) == 2.5
    assert len(result.warnings) == 2
    # a score that needs class names has no value without distances, and no warning either
    assert ranker._score(_metric(lambda _: 1.0, needs=True), _inputs(), result) is None
    assert len(result.warnings) == 2
    assert ranker._score(_metric(lambda _: 1.0, needs=True), _inputs(np.ones((2, 2))), result) == 1.0


def test_set_relative_terms_are_kept_only_when_finite(monkeypatch):
    result = CandidateResult(name="c")
    ncti = ranker.METRICS["ncti"]
    monkeypatch.setattr("hfnet.ranking.metrics.metric_terms", lambda m, i: {"sep": 1.0, "nc1": float("nan")})
    ranker._terms(ncti, _inputs(), result)
    assert "ncti" not in result.terms and result.scores["ncti"] is None
    assert result.warnings[-1].startswith("ncti failed: not finite")
    monkeypatch.setattr("hfnet.ranking.metrics.metric_terms", lambda m, i: {"sep": 1.0, "nc1": 2.0})
    ranker._terms(ncti, _inputs(), result)
    assert result.terms["ncti"] == {"sep": 1.0, "nc1": 2.0} and len(result.warnings) == 1

    def boom(m, i):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr("hfnet.ranking.metrics.metric_terms", boom)
    other = CandidateResult(name="d")
    ranker._terms(ncti, _inputs(), other)
    assert other.warnings == ["ncti failed: LinAlgError: SVD did not converge"] and other.terms == {}


def test_word_vector_distances_warn_once_per_problem_and_cache_by_source_names(monkeypatch):
    calls = []

    class Vecs:
        oov: list = []

    def fake_vectors(names, kv, combine, class_map):
        calls.append(tuple(names))
        if names == ["zzz"]:
            raise HfnetError("no vector for 'zzz'")
        v = Vecs()
        v.oov = ["q"] if "q" in names else []
        return v

    monkeypatch.setattr(ranker, "class_vectors", fake_vectors)
    monkeypatch.setattr(ranker, "class_distances", lambda source, target: np.ones((1, 1)))
    cache: dict = {}
    r1 = CandidateResult(name="one")
    assert ranker._distances(None, None, None, "sum", None, cache, r1) is None
    assert r1.warnings == ["no class names: word-vector EMD skipped (every other score computed)"]
    r2 = CandidateResult(name="two")
    assert ranker._distances(["zzz"], None, None, "sum", None, cache, r2) is None
    assert ranker._distances(["zzz"], None, None, "sum", None, cache, r2) is None
    assert calls == [("zzz",)]  # the failure is cached too
    assert r2.warnings == ["word-vector EMD skipped: no vector for 'zzz'"] * 2
    r3 = CandidateResult(name="three")
    assert ranker._distances(["cat", "q"], None, None, "sum", None, cache, r3).shape == (1, 1)
    assert r3.warnings == ["1 source class names have out-of-vocabulary words"]
    r4 = CandidateResult(name="four")
    assert ranker._distances(["cat"], None, None, "sum", None, cache, r4) is not None and r4.warnings == []


# ---------------------------------------------------------------------- rank_models' steps
def test_tie_rule_of_a_score_not_itself_ranked_reads_higher_as_better():
    # the v3 score ranked alone: its LogME tie-break is not among the metrics, so higher LogME wins
    r = _ranking(
        {"a": {"recommended_v3": 2.0, "logme": 0.1}, "b": {"recommended_v3": 2.0, "logme": 0.9}},
        {"recommended_v3": True},
    )
    assert r.ranks("recommended_v3") == {"b": 1, "a": 2}


class _Loaded:
    """Stands in for a loaded classifier: what rank_models reads to name it."""

    def __init__(self, model, **attrs):
        self.model = model
        self.__dict__.update(attrs)

    def logits_and_features(self, pixels):  # pragma: no cover - only its presence matters here
        raise NotImplementedError


class _Backbone:
    pass


def test_candidates_are_named_by_source_else_model_class_and_names_must_match():
    assert ranker._candidate_name("org/model") == "org/model"
    assert ranker._candidate_name(_Loaded(_Backbone(), source="hf-hub:timm/x")) == "hf-hub:timm/x"
    assert ranker._candidate_name(_Loaded(_Backbone(), source=None)) == "_Backbone"
    assert ranker._candidate_name(_Loaded(_Backbone())) == "_Backbone"  # no source attribute at all
    assert ranker._display_names(["org/a", _Loaded(_Backbone())], None) == ["org/a", "_Backbone"]
    assert ranker._display_names(["org/a"], ("shown",)) == ["shown"]
    with pytest.raises(HfnetError) as e:
        ranker._display_names(["org/a", "org/b"], ["one"])
    assert str(e.value) == "1 names given for 2 candidates"


def test_shard_takes_every_nth_candidate_and_refuses_an_index_outside_the_world():
    assert ranker._shard(5, 0, 1) == [0, 1, 2, 3, 4]
    assert ranker._shard(5, 1, 2) == [1, 3]
    for index in (2, -1):
        with pytest.raises(HfnetError) as e:
            ranker._shard(5, index, 2)
        assert str(e.value) == f"process_index {index} outside [0, 2)"


@pytest.fixture(scope="module")
def three_digits():
    """Real digits test images of the classes 0, 1 and 2 only (ClassLabel still naming all ten)."""
    from hfnet.data import load_image_dataset

    test = load_image_dataset("digits", test_samples_per_class=6, seed=0)["test"]
    return test.filter(lambda x: x["label"] < 3)


def test_target_samples_are_the_balanced_seeded_selection(three_digits):
    target = ranker._target_samples(three_digits, 6, 3)
    labels = np.asarray(three_digits["label"])
    expected = select_samples(labels, 6, seed=3)
    assert list(target.index) == list(expected) and list(target.labels) == list(labels[expected])
    assert len(target.subset) == 6 and list(target.subset["label"]) == list(labels[expected])
    assert target.num_present == 3 and target.classes == [str(i) for i in range(10)]
    full = ranker._target_samples(three_digits, None, 0)
    assert len(full.subset) == len(three_digits) and full.num_present == 3


def test_two_target_classes_are_enough_and_one_or_none_is_refused(three_digits):
    two = three_digits.filter(lambda x: x["label"] < 2)
    assert ranker._target_samples(two, None, 0).num_present == 2
    with pytest.raises(HfnetError) as e:
        ranker._target_samples(two.filter(lambda x: x["label"] == 0), None, 0)
    assert str(e.value) == (
        "the target samples hold 1 class(es) (['0']); ranking needs at least two classes (use more samples or "
        "another split)"
    )
    with pytest.raises(HfnetError) as e:
        ranker._target_samples(two.select([]), None, 0)
    assert str(e.value) == "the target dataset is empty; pass a split with labelled images"


def test_empty_ranking_carries_the_target_and_the_word_vectors():
    from hfnet.ranking.metrics import get_metrics

    chosen = get_metrics(["logme", "leep"])
    target = ranker._Target(None, np.arange(4), np.array([0, 1, 0, 2]), ["a", "b", "c", "d"], 3)
    words = ranker._Words(name="vecs", target_oov={"c": ["x"]}, note="a note")
    r = ranker._empty_ranking(chosen, target, words)
    assert (r.metrics, r.num_samples, r.num_target_classes, r.target_classes) == (
        ["logme", "leep"],
        4,
        3,
        ["a", "b", "c", "d"],
    )
    assert (r.word_vectors, r.target_oov, r.notes, r.candidates) == ("vecs", {"c": ["x"]}, ["a note"], [])
    assert ranker._empty_ranking(chosen, target, ranker._Words()).notes == []


@pytest.fixture
def glove_file(tmp_path):
    """A GloVe-format text file of 3-d vectors: sums and means of multi-word names differ."""
    rows = {"cat": [1, 0, 0], "dog": [0, 1, 0], "big": [0, 0, 4], "bird": [1, 1, 0]}
    path = tmp_path / "tiny.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()))
    return path


def test_word_vectors_given_as_vectors_are_named_by_their_type_and_combined_as_asked(glove_file):
    from hfnet.ranking.metrics import get_metrics
    from hfnet.ranking.word_vectors import class_vectors, load_word_vectors

    kv = load_word_vectors(glove_file)
    chosen = get_metrics(["emd", "logme"])
    classes = ["cat", "big dog", "big zebra"]
    kept, words = ranker._word_vectors(chosen, None, kv, classes, "mean", None)
    assert kept == chosen and words.name == type(kv).__name__ and words.vectors is kv
    assert [m.name for m in words.metrics] == ["emd"]
    mean = class_vectors(classes, kv, combine="mean")
    assert np.allclose(np.asarray(words.target.vectors), np.asarray(mean.vectors))
    assert not np.allclose(np.asarray(words.target.vectors), np.asarray(class_vectors(classes, kv).vectors))
    assert words.target_oov == mean.oov and words.target_oov


def test_word_vectors_that_cannot_load_drop_emd_with_a_note_naming_them(caplog):
    from hfnet.ranking.metrics import get_metrics

    chosen = get_metrics(["emd", "sem_logme", "logme"])
    with caplog.at_level("WARNING", logger="hfnet.ranking.ranker"):
        kept, words = ranker._word_vectors(chosen, None, "/no/such/vectors.txt", ["cat", "dog"], "sum", None)
    assert [m.name for m in kept] == ["sem_logme", "logme"]
    note = (
        "word-vector EMD skipped for every candidate: no such word-vector file: /no/such/vectors.txt "
        "(sem_logme computed without class names: it equals LogME)"
    )
    assert words.name == "/no/such/vectors.txt" and words.note == note and words.metrics == []
    assert [r.getMessage() for r in caplog.records if r.name == "hfnet.ranking.ranker"] == [note]


def _finite_after_a_floating_point_warning(_inputs) -> float:
    inverse = np.array([1.0, 0.0]) ** -1.0  # divide by zero: numpy warns unless told to ignore
    return float(np.where(np.isfinite(inverse), inverse, 0.0).sum())


def test_scores_and_terms_run_with_floating_point_warnings_silenced(monkeypatch):
    import warnings

    result = CandidateResult(name="c")
    ncti = ranker.METRICS["ncti"]
    inputs = _inputs()
    seen = []
    monkeypatch.setattr(
        "hfnet.ranking.metrics.metric_terms",
        lambda m, i: seen.append((m, i)) or {"sep": _finite_after_a_floating_point_warning(i)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert ranker._score(_metric(_finite_after_a_floating_point_warning), inputs, result) == 1.0
        ranker._terms(ncti, inputs, result)
    assert result.terms["ncti"] == {"sep": 1.0} and result.warnings == []
    assert seen == [(ncti, inputs)]


def test_a_failing_score_or_term_is_logged_with_candidate_score_and_error(monkeypatch, caplog):
    def boom(*_):
        raise ValueError("singular matrix")

    monkeypatch.setattr("hfnet.ranking.metrics.metric_terms", boom)
    with caplog.at_level("WARNING", logger="hfnet.ranking.ranker"):
        ranker._score(_metric(boom, name="bad"), _inputs(), CandidateResult(name="c"))
        ranker._terms(ranker.METRICS["ncti"], _inputs(), CandidateResult(name="d"))
    assert [r.getMessage() for r in caplog.records if r.name == "hfnet.ranking.ranker"] == [
        "candidate c: bad failed: ValueError: singular matrix",
        "candidate d: ncti failed: ValueError: singular matrix",
    ]


def test_a_candidate_that_fails_to_load_keeps_its_error_and_a_warning(caplog):
    def loader(name):
        raise OSError(f"no such model {name}")

    scoring = ranker._Scoring(
        ranker._Target([], np.arange(0), np.array([], dtype=np.int64), ["a", "b"], 2),
        [], ranker._Words(), "sum", None, 8, False, loader,
    )  # fmt: skip
    result = CandidateResult(name="shown", index=3)
    with caplog.at_level("WARNING", logger="hfnet.ranking.ranker"):
        out = ranker._rank_candidate("org/missing", result, scoring)
    assert out is result and result.error == "OSError: no such model org/missing" and result.scores == {}
    assert 0 <= result.seconds < 10
    shown = [r.getMessage() for r in caplog.records if r.name == "hfnet.ranking.ranker"]
    assert shown == ["candidate shown skipped: OSError: no such model org/missing"]


def test_scores_run_on_one_blas_thread_with_one_controller_per_process():
    pytest.importorskip("threadpoolctl")
    controller = ranker._blas_controller()
    assert controller is ranker._blas_controller()  # found once: listing the libraries costs ~5 ms a call
    blas = [lib for lib in controller.info() if lib["user_api"] == "blas"]
    assert blas, "numpy's and scipy's BLAS are loaded before the controller lists them"
    paths = {lib["filepath"] for lib in blas}
    before = {lib["filepath"]: lib["num_threads"] for lib in blas}
    with ranker._one_blas_thread():
        inside = {lib["filepath"]: lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"}
        assert set(inside) == paths and set(inside.values()) == {1}
    after = {lib["filepath"]: lib["num_threads"] for lib in controller.info() if lib["user_api"] == "blas"}
    assert after == before
