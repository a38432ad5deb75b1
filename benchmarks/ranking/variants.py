"""The rank combinations compared on the seen targets before v3 was fixed (variants_protocol.txt, fourth part).

    python benchmarks/ranking/variants.py [results.json]    # default: this folder's results.json

Reads the scores and fine-tuned accuracies already in ``results.json`` (nothing is scored or fine-tuned) and prints,
for each variant, the mean Kendall tau, mean top-1 regret and worst regret over the 16 seen targets (full-size
settings) and over their small-N settings, with the decision rule of the protocol's first part applied against v1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import SEEN_TARGETS, correlations  # noqa: E402

from hfnet.ranking.recommended import mean_ranks, recommended_scores  # noqa: E402

# name: (components, aggregate, how a candidate without a source accuracy is ranked there)
VARIANTS = {
    "v1": (("logme", "leep", "ncti", "source_accuracy"), "mean", "last"),
    "v2": (("logme", "leep", "ncti", "source_accuracy"), "median", "last"),
    "v1, missing source accuracy mid-table": (("logme", "leep", "ncti", "source_accuracy"), "mean", "middle"),
    "v1 without source accuracy (v3 here)": (("logme", "leep", "ncti"), "mean", "last"),
    "v1 + knn": (("logme", "leep", "ncti", "source_accuracy", "knn"), "mean", "last"),
    "v1 + knn, missing mid-table": (("logme", "leep", "ncti", "source_accuracy", "knn"), "mean", "middle"),
    "logme, ncti, source accuracy": (("logme", "ncti", "source_accuracy"), "mean", "last"),
    "logme, ncti, source accuracy, missing mid-table": (("logme", "ncti", "source_accuracy"), "mean", "middle"),
    "logme, ncti, knn": (("logme", "ncti", "knn"), "mean", "last"),
}


def variant_scores(result: dict, target: str, components, aggregate: str, missing: str) -> dict[str, float]:
    """Each candidate's combined rank under one variant (negated: higher = better)."""
    scores = result["scores"][target]
    names = list(scores)
    source = {n: result["zoo"][n].get("source_accuracy") if "random" not in n else None for n in names}
    values = {c: [source[n] if c == "source_accuracy" else scores[n].get(c) for n in names] for c in components}
    if missing == "last":
        combined, _ = recommended_scores(values, aggregate)  # hfnet's own rule code
    else:
        # the source accuracy's reporters ranked over 1..n, the others in the middle; the rest as hfnet ranks them
        ranks = np.stack(
            [_middle_ranks(values[c]) if c == "source_accuracy" else mean_ranks(values[c]) for c in values]
        )
        combined = ranks.mean(axis=0) if aggregate == "mean" else np.median(ranks, axis=0)
    return {n: -float(v) for n, v in zip(names, combined)}


def _middle_ranks(values: list) -> np.ndarray:
    """Ranks (1 = best) of the candidates with a value stretched over 1..n; those without one share the middle."""
    have = [i for i, v in enumerate(values) if v is not None]
    ranks = np.full(len(values), (len(values) + 1) / 2)
    ranks[have] = 1 + (mean_ranks([values[i] for i in have]) - 1) * (len(values) - 1) / max(len(have) - 1, 1)
    return ranks


def summary(result: dict, targets: list[str]) -> dict[str, dict]:
    out = {}
    for name, (components, aggregate, missing) in VARIANTS.items():
        taus, regrets = [], []
        for t in targets:
            logme = {n: s.get("logme") for n, s in result["scores"][t].items()}
            c = correlations(
                variant_scores(result, t, components, aggregate, missing), result["accuracy"][t], True, logme
            )
            taus.append(c["kendall_tau"])
            regrets.append(c["top1_regret"])
        out[name] = {"tau": float(np.mean(taus)), "regret": float(np.mean(regrets)), "worst": float(max(regrets))}
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    result = json.loads(path.read_text())
    full = [t for t in SEEN_TARGETS if t in result["scores"]]
    small = [t for t in result["scores"] if "@" in t and t.split("@")[0] in SEEN_TARGETS]
    table = summary(result, full)
    v1 = table["v1"]
    print(f"{len(full)} seen targets (full size): mean tau / mean regret / worst regret; decision against v1")
    for name, r in table.items():
        ok = r["regret"] < v1["regret"] and r["tau"] >= v1["tau"] - 0.02 and r["worst"] <= v1["worst"]
        print(f"  {name:48s} {r['tau']:.4f} / {r['regret']:.5f} / {r['worst']:.4f}  {'qualifies' if ok else ''}")
    print(f"{len(small)} small-N settings of the seen targets")
    for name, r in summary(result, small).items():
        print(f"  {name:48s} {r['tau']:.4f} / {r['regret']:.5f} / {r['worst']:.4f}")


if __name__ == "__main__":
    main()
