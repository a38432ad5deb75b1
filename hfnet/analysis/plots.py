"""Heatmaps and summary plots of filter comparisons (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hfnet._plots import pyplot, save_figure
from hfnet.analysis.filters import FilterComparison


def plot_comparison(
    comparison: FilterComparison, path: str | os.PathLike, *, title: str = "", labels: tuple[str, str] = ("A", "B")
) -> Path:
    """One figure per comparison.

    Cosine: the binarised matrix as is, and with B's columns in best-match order (seed 000's figure 2).
    Euclidean: ``E_ij`` and the dissimilarity ``S`` with A as reference, then with B as reference (seed 001).
    """
    plt = pyplot()
    a, b = labels
    if comparison.metric == "cosine":
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
        for ax, mat, sub in (
            (axes[0], comparison.binary, "as is"),
            (axes[1], comparison.binary[:, comparison.order], "columns reordered by best match"),
        ):
            ax.imshow(mat.numpy(), cmap="gray_r", interpolation="nearest", vmin=0, vmax=1)
            ax.set_title(f"cos > {comparison.threshold:g}, {sub}", fontsize=9)
            ax.set_xlabel(f"{b} filter")
            ax.set_ylabel(f"{a} filter")
    else:
        fig, axes = plt.subplots(1, 3, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1, 1]})
        im = axes[0].imshow(comparison.matrix.numpy(), cmap="viridis", interpolation="nearest")
        axes[0].set_title("Euclidean distance E_ij", fontsize=9)
        axes[0].set_xlabel(f"{b} filter j")
        axes[0].set_ylabel(f"{a} filter i")
        fig.colorbar(im, ax=axes[0], fraction=0.046)
        vmax = float(max(comparison.s_a.max(), comparison.s_b.max()))
        for ax, s, ref in ((axes[1], comparison.s_a, a), (axes[2], comparison.s_b, b)):
            ax.imshow(s.numpy()[:, None], cmap="magma", vmin=0, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(f"S_i, {ref} as reference", fontsize=9)
            ax.set_xticks([])
            ax.set_ylabel(f"{ref} filter i")
            for i, v in enumerate(s.tolist()):
                ax.text(0, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w" if v < vmax * 0.6 else "k")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_summary(
    rows: Sequence[dict], path: str | os.PathLike, *, key: str = "match_fraction", title: str = ""
) -> Path:
    """Bars of ``row[key]`` for trained pairs next to ``row[key + "_random"]`` (the same figure for random weights)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows)), 3.6))
    xs = range(len(rows))
    trained = [r[key] for r in rows]
    random = [r.get(f"{key}_random", float("nan")) for r in rows]
    ax.bar([x - 0.2 for x in xs], trained, width=0.4, label="trained")
    ax.bar([x + 0.2 for x in xs], random, width=0.4, label="random weights (same shape and std)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["pair"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(key)
    ax.legend(fontsize=8)
    ax.set_title(title or key, fontsize=10)
    return save_figure(fig, path)
