"""Do the recommended rules hold when the candidate set changes? Each target ranked again without one candidate.

    python benchmarks/ranking/candidates_left_out.py [results.json]    # default: this folder's results.json

Prints the table and writes candidates_left_out.json in this folder.

The independent holdout judges the rules on other candidates as well as other targets. Without fine-tuning anything
again, this asks the part of that question the benchmark can answer: for every target and every one of the 12
candidates, leave that candidate out, compute the set-relative scores again over the 11 left (NCTI from its stored
per-candidate terms, min-max normalised over the 11, and every recommended rule with hfnet's own code), and measure
Kendall tau and top-1 regret against the same fine-tuned accuracies. Reported per group of targets (the fifth
held-out set, v3's held-out set, all seen targets) as the mean tau and mean regret over all target x left-out pairs,
the worst regret, and the share of pairs whose pick is more than 0.02 below the best of the 11.

Leaving out the best candidate is the hard case: the pick must then find the second best. Leaving out a weak one
mostly tests whether the set-relative normalisation moves the pick.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import HELD_OUT_TARGETS, HELD_OUT_V4, SEEN_TARGETS, correlations, reported_info  # noqa: E402

from hfnet.ranking.metrics import METRICS, NEEDS  # noqa: E402
from hfnet.ranking.ranker import CandidateResult, Ranking, finalise  # noqa: E402
from hfnet.ranking.recommended import RULE_BY_METRIC  # noqa: E402

RULES = ("recommended", "recommended_v3", "recommended_v1")
SINGLE = ("logme", "ncti", "knn", "leep")
GROUPS = {"fifth held-out set": HELD_OUT_TARGETS, "v3's held-out set": HELD_OUT_V4, "all seen": SEEN_TARGETS}


def subset_scores(result: dict, target: str, names: list[str]) -> dict[str, dict[str, float | None]]:
    """The scores of ``names`` ranked together: the plain scores as stored, NCTI and the rules computed again by the
    ranking's own :func:`~hfnet.ranking.ranker.finalise` over just these candidates."""
    reported = reported_info(result["zoo"])
    candidates = [
        CandidateResult(
            n,
            scores=dict(result["scores"][target][n]),
            reported=reported.get(n, {}),
            terms={"ncti": result["ncti_terms"][target][n]},
        )
        for n in names
    ]
    metrics = [*dict.fromkeys(c for m in RULES for c in NEEDS[m]), *RULES]
    ranking = Ranking(
        metrics=metrics,
        higher_is_better={m: METRICS[m].higher_is_better for m in metrics},
        candidates=candidates,
        num_samples=0,
        num_target_classes=0,
        target_classes=[],
    )
    return {c.name: c.scores for c in finalise(ranking).candidates}


def left_out(result: dict, targets: list[str]) -> dict[str, dict]:
    """Mean tau, mean / worst regret and the share over 0.02 of each score over every (target, left-out) pair."""
    rows: dict[str, dict[str, list]] = {m: {"tau": [], "regret": []} for m in (*RULES, *SINGLE)}
    for t in targets:
        everyone = list(result["scores"][t])
        for dropped in everyone:
            names = [n for n in everyone if n != dropped]
            scores = subset_scores(result, t, names)
            acc = {n: result["accuracy"][t][n] for n in names}
            for m in rows:
                higher = m not in RULES
                tie = {n: scores[n].get(RULE_BY_METRIC[m].tie_break) for n in names} if m in RULES else None
                c = correlations({n: scores[n].get(m) for n in names}, acc, higher, tie)
                rows[m]["tau"].append(c["kendall_tau"])
                rows[m]["regret"].append(c["top1_regret"])
    return {
        m: {
            "pairs": len(v["regret"]),
            "tau": float(np.mean(v["tau"])),
            "regret": float(np.mean(v["regret"])),
            "worst": float(np.max(v["regret"])),
            "over_0.02": float(np.mean(np.array(v["regret"]) > 0.02)),
        }
        for m, v in rows.items()
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    result = json.loads(path.read_text())
    if "ncti_terms" not in result:
        raise SystemExit(f"{path} has no ncti_terms (written by run.py since the fifth held-out set): run it again")
    out = {}
    for group, members in GROUPS.items():
        targets = [t for t in result["scores"] if t in members]
        out[group] = {"targets": targets, "scores": left_out(result, targets)}
        print(f"{group} ({len(targets)} targets x 12 left out): mean tau / mean regret / worst regret / over 0.02")
        for m, r in out[group]["scores"].items():
            print(f"  {m:16s} {r['tau']:.3f} / {r['regret']:.4f} / {r['worst']:.3f} / {100 * r['over_0.02']:.0f} %")
    (HERE / "candidates_left_out.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
