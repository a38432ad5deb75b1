r"""Compare two models' convolution filters (cosine over single-channel filters, seed 000; Euclidean E_ij / S_i over
whole filters, seed 001), against a random-weights reference, with a heatmap and a JSON summary.

    hfnet filters hfnet-demo/zoo/digits_resnet hfnet-demo/zoo/fashion_resnet --plot filters.png --json filters.json
"""

from __future__ import annotations

from hfnet.analysis.config import FilterConfig
from hfnet.jobs import JobResult

HELP = "compare two models' convolution filters (cosine / Euclidean)"

ARGUMENTS = (FilterConfig,)


def run(config: FilterConfig) -> JobResult:
    from hfnet._table import format_table
    from hfnet.analysis.compare import run as compare

    result = compare(config)
    summary = result.comparison.summary
    rows = [
        {"measure": key, "trained": value, "random weights": summary.get(f"{key}_random")}
        for key, value in summary.items()
        if not key.endswith("_random") and not key.startswith("num_")
    ]
    lines = [f"layer {result.layer}: {int(summary['num_filters_a'])} x {int(summary['num_filters_b'])} filters"]
    lines.append(format_table(rows))
    lines += [f"wrote {path}" for path in (result.plot, result.json) if path is not None]
    return JobResult("\n".join(lines), result.summary(config))
