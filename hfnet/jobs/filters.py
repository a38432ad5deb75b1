r"""Compare two models' convolution filters (cosine over single-channel filters, seed 000; Euclidean E_ij / S_i over
whole filters, seed 001), against a random-weights reference, with a heatmap and a JSON summary.

    hfnet filters hfnet-demo/zoo/digits_resnet hfnet-demo/zoo/fashion_resnet --plot filters.png --json filters.json
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.jobs import JobResult

HELP = "compare two models' convolution filters (cosine / Euclidean)"


@dataclass
class FiltersArguments:
    """Filters: the two models and the measure."""

    model_a: str = field(metadata={"help": "Hub-format folder or Hub id", "positional": True})
    model_b: str = field(metadata={"help": "Hub-format folder or Hub id", "positional": True})
    layer: str | None = field(
        default=None, metadata={"help": "Conv layer (module or tensor name); default: the first conv."}
    )
    layer_b: str | None = field(default=None, metadata={"help": "Conv layer of model B when its name differs."})
    metric: str = field(
        default="cosine",
        metadata={
            "help": "cosine over single-channel filters (seed 000) or Euclidean E_ij / S_i over whole filters "
            "(seed 001).",
            "choices": ("cosine", "euclidean"),
        },
    )
    threshold: float = field(default=0.5, metadata={"help": "Cosine binarisation threshold."})
    plot: str | None = field(default=None, metadata={"help": "Write the heatmap PNG here."})
    json: str | None = field(default=None, metadata={"help": "Write the summary (and matrix) as JSON here."})
    seed: int = field(default=0, metadata={"help": "Seed of the random-weights reference."})


ARGUMENTS = (FiltersArguments,)


def run(script: FiltersArguments) -> JobResult:
    from hfnet._table import format_table
    from hfnet.analysis.compare import compare_models
    from hfnet.analysis.plots import plot_comparison
    from hfnet.jobs._common import write_json

    layer, cmp = compare_models(
        script.model_a,
        script.model_b,
        layer=script.layer,
        layer_b=script.layer_b,
        metric=script.metric,
        threshold=script.threshold,
        random_seed=script.seed,
    )
    rows = []
    for key, value in cmp.summary.items():
        if key.endswith("_random") or key.startswith("num_"):
            continue
        rows.append({"measure": key, "trained": value, "random weights": cmp.summary.get(f"{key}_random")})
    lines = [f"layer {layer}: {int(cmp.summary['num_filters_a'])} x {int(cmp.summary['num_filters_b'])} filters"]
    lines.append(format_table(rows))
    if script.plot:
        path = plot_comparison(cmp, script.plot, title=f"{layer} ({script.metric})", labels=("A", "B"))
        lines.append(f"wrote {path}")
    payload = {"model_a": script.model_a, "model_b": script.model_b, "layer": layer}
    if script.json:
        lines.append(f"wrote {write_json(script.json, {**payload, **cmp.to_dict(with_matrix=True)})}")
    return JobResult("\n".join(lines), {**payload, **cmp.summary})
