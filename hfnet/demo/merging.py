"""``hfnet demo`` step: merge the digits and Fashion-MNIST ResNets (naive vs aligned) and plot their filters."""

from __future__ import annotations

import json
from typing import Any


def demo_step(ctx) -> list[dict[str, Any]]:
    """Average ``digits_resnet`` into ``fashion_resnet`` with and without weight matching (head from the Fashion
    model, BatchNorm recomputed on 512 Fashion training images), evaluate both on the Fashion test subset, and
    compare the two parents' first-conv filters against random weights. Writes under ``ctx.output_dir/merging``."""
    from hfnet.analysis.compare import compare_models
    from hfnet.analysis.plots import plot_comparison
    from hfnet.merging.merge import merge_models

    out = ctx.output_dir / "merging"
    out.mkdir(parents=True, exist_ok=True)
    a, b = ctx.zoo["digits_resnet"], ctx.zoo["fashion_resnet"]
    fashion = ctx.datasets["fashion_mnist"]
    bn_data = fashion["train"].shuffle(seed=ctx.seed)
    rows: list[dict[str, Any]] = []
    for align in (False, True):
        name = "aligned" if align else "naive"
        report = merge_models(
            [b, a],
            out / f"merged_{name}",
            head_from=0,
            align=align,
            batchnorm_dataset=bn_data,
            batchnorm_samples=512,
            seed=ctx.seed,
            eval_dataset=fashion["test"],
            dataset_name="fashion_mnist",
            overwrite=ctx.overwrite,
        )
        metrics = report.metrics  # measured on the merged checkpoint, before its card was written
        rows.append(
            {
                "model": f"average(fashion_resnet, digits_resnet), {name}",
                "dataset": "fashion_mnist test",
                **{k: v for k, v in metrics.items() if k in ("accuracy", "loss")},
            }
        )
    layer, cmp = compare_models(a, b, metric="cosine", threshold=0.5, random_seed=ctx.seed)
    plot_comparison(cmp, out / "filters_digits_vs_fashion.png", title=f"{layer}", labels=("digits", "fashion"))
    (out / "filters.json").write_text(json.dumps({"layer": layer, **cmp.to_dict()}, indent=1))
    s = cmp.summary
    rows.append(
        {
            "model": "filters digits_resnet vs fashion_resnet (first conv, cos > 0.5)",
            "match_fraction": round(s["match_fraction"], 3),
            "match_fraction_random": round(s["match_fraction_random"], 3),
        }
    )
    return rows
