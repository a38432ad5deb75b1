"""A picture of a ranking: one panel per score, candidates as bars, the best one highlighted."""

from __future__ import annotations

import math
import os
from pathlib import Path

from hfnet._plots import pyplot, save_figure
from hfnet.ranking.ranker import Ranking


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
        ax.barh(range(len(candidates)), [v if v is not None else 0.0 for v in values], color=colors)
        for i, v in enumerate(values):
            if v is None:
                ax.text(0, i, " n/a", va="center", fontsize=7, color="gray")
        ax.set_yticks(range(len(candidates)), labels if ax in axes[:, 0] else [""] * len(candidates), fontsize=7)
        ax.invert_yaxis()
        arrow = "higher" if ranking.higher_is_better[metric] else "lower"
        ax.set_title(f"{metric} ({arrow} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{len(candidates)} candidates on {ranking.dataset or 'target'} ({ranking.num_samples} images)")
    return save_figure(fig, path)
