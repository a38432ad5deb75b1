"""The rank combinations compared on the seen targets before v3 and v4 were fixed (variants_protocol.txt, fourth and
fifth parts).

    python benchmarks/ranking/variants.py [results.json]    # v3's nine variants (output: variants_v3.txt)
    python benchmarks/ranking/variants.py --search [results.json]    # v4's subset search (output: variants_v4.txt)

Reads the scores and fine-tuned accuracies already in ``results.json`` (nothing is scored or fine-tuned) and prints,
for each variant, the mean Kendall tau, mean top-1 regret and worst regret over the 16 seen targets (full-size
settings) and over their small-N settings, with the decision rule of the protocol's first part applied against v1.

``--search`` ranks every mean-rank combination of one to four of SEARCH_POOL's scores (561) on the 19 targets read
before v4 (full-size settings), with ties to each of its components, by the fifth part's decision rule: mean Kendall
tau at least v3's minus 0.02, then the fewest targets with a top-1 regret above 0.02, then the lowest mean regret,
then the highest tau. It is a search over many combinations on targets that were all read, so the winner's numbers
there are optimistic: the fifth held-out set judges it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import itertools  # noqa: E402

from run import HELD_OUT_V4, SEEN_TARGETS, correlations, reported_info  # noqa: E402

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
    reported = reported_info(result["zoo"])
    source = {n: reported.get(n, {}).get("source_accuracy") for n in names}
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


# the scores v4's search combines (every default score with a tau above 0.35 on the 19 targets, but the LogME copies)
SEARCH_POOL = (
    "logme", "leep", "ncti", "knn", "nleep", "nce", "hscore_shrinkage", "etran_lda", "transrate", "sfda", "parc",
)  # fmt: skip


def combination(result: dict, targets: list[str], components, tie: str) -> dict:
    """Mean tau, mean / worst regret and the targets over 0.02 of the mean rank of ``components``, ties to ``tie``."""
    taus, regrets = [], []
    for t in targets:
        scores = result["scores"][t]
        names = list(scores)
        combined, _ = recommended_scores({c: [scores[n].get(c) for n in names] for c in components})
        c = correlations(
            {n: -v for n, v in zip(names, combined)},
            result["accuracy"][t],
            True,
            {n: scores[n].get(tie) for n in names},
        )
        taus.append(c["kendall_tau"])
        regrets.append(c["top1_regret"])
    return {
        "tau": float(np.mean(taus)),
        "regret": float(np.mean(regrets)),
        "worst": float(max(regrets)),
        "over": [t for t, r in zip(targets, regrets) if r > 0.02],
    }


def search(result: dict, full: list[str], small: list[str], top: int = 15) -> None:
    """v4's search (module docstring): prints the best ``top`` combinations and the chosen one beside v3."""
    v3 = combination(result, full, ("logme", "leep", "ncti"), "logme")
    rows = []
    for size in range(1, 5):
        for components in itertools.combinations(SEARCH_POOL, size):
            for tie in components:
                r = combination(result, full, components, tie)
                if r["tau"] >= v3["tau"] - 0.02:
                    rows.append((len(r["over"]), r["regret"], -r["tau"], components, tie, r))
    rows.sort(key=lambda row: row[:3])
    print(
        f"{len(full)} targets read before v4 (full size); {len(rows)} of the combinations x tie rules keep a mean "
        f"tau of at least v3's {v3['tau']:.4f} minus 0.02. Order: targets over 0.02, mean regret, tau."
    )
    print(f"  {'v3 (logme, leep, ncti; ties to logme)':56s} {_line(v3)}")
    for *_, components, tie, r in rows[:top]:
        print(f"  {', '.join(components) + f'; ties to {tie}':56s} {_line(r)}")
    *_, components, tie, best = rows[0]
    print(f"chosen: {', '.join(components)}; ties to {tie}")
    print(f"{len(small)} small-N settings of the same targets (not part of the decision)")
    print(f"  {'v3':56s} {_line(combination(result, small, ('logme', 'leep', 'ncti'), 'logme'))}")
    print(f"  {'chosen':56s} {_line(combination(result, small, components, tie))}")


def _line(r: dict) -> str:
    over = ", ".join(r["over"]) or "none"
    return f"tau {r['tau']:.4f} / regret {r['regret']:.5f} / worst {r['worst']:.4f}; over 0.02: {over}"


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--search"]
    path = Path(args[0]) if args else HERE / "results.json"
    result = json.loads(path.read_text())
    if "--search" in sys.argv[1:]:
        targets = [t for t in result["scores"] if "@" not in t and t in SEEN_TARGETS]
        small = [t for t in result["scores"] if "@" in t and t.split("@")[0] in targets]
        search(result, targets, small)
        return
    full = [t for t in SEEN_TARGETS if t in result["scores"] and t not in HELD_OUT_V4]  # those read before v3
    small = [t for t in result["scores"] if "@" in t and t.split("@")[0] in full]
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
