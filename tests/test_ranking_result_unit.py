"""hfnet.ranking.job.RankingResult and recommend without models: the rows the JSON and the table are built from, the
printed table, the JSON document and the recommended pick's reason."""

from __future__ import annotations

import json

from hfnet.ranking.job import RankingResult, recommend
from hfnet.ranking.ranker import CandidateResult, Ranking


def _result(sort_by: str = "logme", downloads: bool = False) -> RankingResult:
    candidates = [
        CandidateResult(
            name="small",
            scores={"logme": -0.5, "leep": None},
            num_params=1_500_000,
            reported={"source_accuracy": 0.75, "downloads": 1234 if downloads else None},
            cached=True,
            forward_batches=3,
            index=0,
        ),
        CandidateResult(
            name="big",
            scores={"logme": 0.25, "leep": -1.0},
            num_params=None,
            reported={},
            forward_batches=2,
            index=1,
            warnings=["leep: overflow"],
        ),
        CandidateResult(name="broken", index=2, error="could not load weights"),
    ]
    ranking = Ranking(
        metrics=["logme", "leep"],
        higher_is_better={"logme": True, "leep": True},
        candidates=candidates,
        num_samples=8,
        num_target_classes=2,
        target_classes=["a", "b"],
        notes=["ncti is relative to the candidate set"],
    )
    return RankingResult(ranking=ranking, sort_by=sort_by, recommended=recommend(ranking))


def test_rows_are_best_first_with_values_ranks_params_reported_cache_and_the_failed_candidate_last():
    rows = _result().rows()
    assert [r["candidate"] for r in rows] == ["big", "small", "broken"]
    big, small, broken = rows
    assert big["logme"] == 0.25 and isinstance(big["logme"], float) and big["#logme"] == 1
    assert small["logme"] == -0.5 and small["#logme"] == 2
    assert small["leep"] is None and small["#leep"] is None and big["#leep"] == 1
    assert small["params"] == 1_500_000 and big["params"] is None
    assert small["source_accuracy"] == 0.75 and big["source_accuracy"] is None and small["downloads"] is None
    assert small["cached"] is True and big["cached"] is False
    assert small["forward_batches"] == 3 and big["forward_batches"] == 2
    assert "error" not in big and "error" not in small and broken["error"] == "could not load weights"


def test_rows_follow_sort_by_and_keep_input_order_between_unranked_candidates():
    rows = _result(sort_by="leep").rows()
    assert [r["candidate"] for r in rows] == ["big", "small", "broken"]
    r = _result()
    r.ranking.candidates[1].scores["logme"] = None  # big unranked under logme: after the ranked small
    assert [x["candidate"] for x in r.rows()] == ["small", "big", "broken"]


def test_table_prints_value_and_rank_params_reported_cache_notes_skips_warnings_and_the_pick():
    lines = _result().table().splitlines()
    assert lines[0] == "sorted by logme"
    text = "\n".join(lines)
    body = [ln for ln in lines if ln.lstrip().startswith(("big", "small"))]
    assert [ln.split()[0] for ln in body] == ["big", "small"]
    big, small = body
    assert "0.25 (1)" in big and "-1 (1)" in big and "?" in big
    assert "-0.5 (2)" in small and "n/a" in small and "1.50M" in small and "0.750" in small and "hit" in small
    assert "hit" not in big
    header = next(ln for ln in lines if ln.lstrip().startswith("candidate"))
    assert header.split() == ["candidate", "logme", "leep", "params", "src", "acc", "cache"]
    assert "downloads" not in text  # no candidate reports downloads: no column
    assert "note: ncti is relative to the candidate set" in lines
    assert "skipped broken: could not load weights" in lines
    assert "warning big: leep: overflow" in lines
    assert lines[-1].startswith("recommended: big (")
    assert "broken" not in "\n".join(body)


def test_table_shows_downloads_only_when_some_candidate_reports_them():
    text = _result(downloads=True).table()
    header = next(ln for ln in text.splitlines() if ln.lstrip().startswith("candidate"))
    assert header.split()[-2:] == ["downloads", "cache"] and "1,234" in text


def test_table_without_ranked_candidates_keeps_the_skips_and_no_pick():
    r = _result()
    for c in r.ranking.candidates:
        c.error = c.error or "failed"
    r.recommended = recommend(r.ranking)
    lines = r.table().splitlines()
    assert r.recommended is None
    assert not any(ln.startswith("sorted by") for ln in lines)
    assert "skipped small: failed" in lines and "skipped broken: could not load weights" in lines
    assert not any(ln.startswith("recommended:") for ln in lines)


def test_to_dict_and_save_json_carry_sort_pick_rows_search_and_processes(tmp_path):
    r = _result()
    d = r.to_dict()
    assert d["sort_by"] == "logme" and d["num_processes"] == 1 and d["search"] == []
    assert d["recommended"]["candidate"] == "big" and d["table"] == r.rows()
    path = r.save_json(tmp_path / "ranking.json")
    assert json.loads(path.read_text())["table"][0]["candidate"] == "big"


def test_recommend_names_the_score_the_value_the_runner_up_and_the_agreeing_scores():
    pick = recommend(_result().ranking)
    assert pick["score"] == "logme" and pick["candidate"] == "big"
    assert "logme = 0.25" in pick["reason"] and "vs -0.5 for the runner-up small" in pick["reason"]
    assert "1 of the 1 other scores also rank it first" in pick["reason"]


def test_recommend_counts_only_the_other_scores_and_explains_the_recommended_rule():
    r = _result()
    for c, (rec, nce) in zip(r.ranking.candidates, ((2.0, 0.1), (1.0, 0.2), (None, None))):
        c.scores |= {"recommended": rec, "nce": nce}
    r.ranking.metrics = ["recommended", "logme", "leep", "nce"]
    r.ranking.higher_is_better |= {"recommended": False, "nce": True}
    r.ranking.recommended_components = ["logme", "leep"]
    pick = recommend(r.ranking)
    assert pick["score"] == "recommended" and pick["candidate"] == "big" and pick["value"] == 1.0
    assert "components used: logme, leep; mean rank 1" in pick["reason"]
    assert "3 of the 3 other scores also rank it first" in pick["reason"]
    r.ranking.candidates[1].scores["nce"] = 0.0
    assert "2 of the 3 other scores" in recommend(r.ranking)["reason"]
