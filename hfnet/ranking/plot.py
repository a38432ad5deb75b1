"""A picture of a ranking: one panel per score, candidates as bars, the best one highlighted."""

from __future__ import annotations

import math
import os
from pathlib import Path

from hfnet._plots import pyplot, save_figure
from hfnet.ranking.ranker import Ranking


def bar_lengths(values: list[float | None], higher_is_better: bool) -> list[float | None]:
    """Bar lengths that grow with how good a value is, whatever its sign: the distance from just beyond the worst
    value (the best candidate gets the longest bar; a bar of raw negative values drew the best as the shortest)."""
    present = [v for v in values if v is not None]
    if not present:
        return list(values)
    good = [None if v is None else (v if higher_is_better else -v) for v in values]
    worst, best = min(g for g in good if g is not None), max(g for g in good if g is not None)
    margin = 0.05 * (best - worst) or 1.0
    return [None if g is None else g - worst + margin for g in good]


def plot_ranking(ranking: Ranking, path: str | os.PathLike) -> Path:
    """Write a PNG with a bar chart per score (arrow in the title: which direction is better)."""
    plt = pyplot()

    candidates = ranking.ranked
    metrics = ranking.metrics
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    height = max(2.5, 0.35 * len(candidates) + 1.2)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, height * rows), squeeze=False)
    labels = [c.name if len(c.name) <= 28 else "..." + c.name[-25:] for c in candidates]
    for ax, metric in zip(axes.flat, metrics):
        ranks = ranking.ranks(metric)
        values = [c.scores.get(metric) for c in candidates]
        colors = ["tab:orange" if ranks.get(c.name) == 1 else "tab:blue" for c in candidates]
        lengths = bar_lengths(values, ranking.higher_is_better[metric])
        ax.barh(range(len(candidates)), [v if v is not None else 0.0 for v in lengths], color=colors)
        for i, v in enumerate(values):
            ax.text(0, i, " n/a" if v is None else f" {v:.4g}", va="center", fontsize=6, color="black")
        ax.set_xticks([])
        ax.set_yticks(range(len(candidates)), labels if ax in axes[:, 0] else [""] * len(candidates), fontsize=7)
        ax.invert_yaxis()
        arrow = "higher" if ranking.higher_is_better[metric] else "lower"
        ax.set_title(f"{metric} ({arrow} is better; longest bar = best)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{len(candidates)} candidates on {ranking.dataset or 'target'} ({ranking.num_samples} images)")
    return save_figure(fig, path)
