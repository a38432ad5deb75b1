"""The benchmark's analysis scripts (benchmarks/ranking/variants.py, candidates_left_out.py) recompute what the
ranking computed: on the full candidate set they must give back results.json's stored values."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "ranking"
RESULTS = BENCH / "results.json"
pytestmark = pytest.mark.skipif(not RESULTS.is_file(), reason="no benchmark results")


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        import candidates_left_out
        import variants

        yield json.loads(RESULTS.read_text()), candidates_left_out, variants
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("target", ["digits", "mnist_small", "fashion_edges_1000@200"])
def test_the_full_candidate_set_gives_back_the_stored_scores(bench, target):
    result, left_out, _ = bench
    names = list(result["scores"][target])
    again = left_out.subset_scores(result, target, names)
    for name in names:
        for metric in ("ncti", "recommended", "recommended_v3", "recommended_v1"):
            assert again[name][metric] == pytest.approx(result["scores"][target][name][metric], abs=1e-12)


def test_leaving_a_candidate_out_renormalises_ncti_and_the_rules(bench):
    result, left_out, _ = bench
    names = list(result["scores"]["mnist_small"])
    weakest = min(names, key=lambda n: result["scores"]["mnist_small"][n]["ncti"])
    rest = [n for n in names if n != weakest]
    again = left_out.subset_scores(result, "mnist_small", rest)
    # NCTI is min-max normalised over the set: without the lowest one, some other candidate now scores 0 on a term
    assert any(again[n]["ncti"] != result["scores"]["mnist_small"][n]["ncti"] for n in rest)
    # the rules rank 11 candidates now: the mean ranks stay within 1..11
    assert all(1 <= again[n]["recommended"] <= len(rest) for n in rest)
    assert set(again) == set(rest)


def test_variants_combination_equals_the_stored_rule_correlations(bench):
    result, _, variants = bench
    targets = ["mnist_blur_1000", "fashion_edges_1000", "mnist_small"]
    v4 = variants.combination(result, targets, ("leep", "ncti", "knn"), "ncti")
    stored = [result["correlations"][t]["recommended"] for t in targets]
    assert v4["tau"] == pytest.approx(sum(c["kendall_tau"] for c in stored) / 3)
    assert v4["worst"] == pytest.approx(max(c["top1_regret"] for c in stored))
