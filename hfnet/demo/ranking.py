"""``hfnet demo`` step: rank the demo zoo for MNIST (a dataset none of the zoo was trained on), in seconds."""

from __future__ import annotations

from typing import Any


def demo_step(ctx) -> dict[str, Any]:
    """Rank every saved zoo model on 200 MNIST training images with all scores; write JSON, PNG and a table."""
    import time

    from hfnet._table import format_table
    from hfnet.ranking.plot import plot_ranking
    from hfnet.ranking.ranker import rank_models

    t0 = time.perf_counter()
    out = ctx.output_dir / "ranking"
    out.mkdir(parents=True, exist_ok=True)
    target = ctx.datasets["mnist"]["train"]
    names = sorted(ctx.zoo)
    ranking = rank_models([str(ctx.zoo[n]) for n in names], target, names=names, num_samples=200, seed=ctx.seed)
    ranking.dataset = "mnist:train"
    ranking.save_json(out / "ranking.json")
    plot_ranking(ranking, out / "ranking.png")
    (out / "ranking.md").write_text(format_table(ranking.rows(), floatfmt="{:.4g}") + "\n")

    def top(metric: str) -> str | None:
        if metric not in ranking.metrics:
            return None
        return next((n for n, r in ranking.ranks(metric).items() if r == 1), None)

    return {
        "model": f"{len(ranking.ranked)} ranked ({len(ranking.failed)} failed)",
        "dataset": f"mnist ({ranking.num_samples} images)",
        "top_logme": top("logme"),
        "top_leep": top("leep"),
        "top_softmax_max": top("softmax_max"),
        "top_emd": top("emd"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
