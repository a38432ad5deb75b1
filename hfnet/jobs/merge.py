r"""Merge same-architecture models into a Hub-format checkpoint with a model card.

hfnet merge hfnet-demo/zoo/fashion_resnet other/fashion_resnet --method average --output-dir merged
hfnet merge A B --method ties --base BASE --density 0.2 --output-dir merged-ties
hfnet merge A B --align --bn-dataset fashion_mnist --eval-dataset fashion_mnist --output-dir merged-aligned
"""

from __future__ import annotations

from hfnet.jobs import JobResult
from hfnet.merging.config import MergeConfig
from hfnet.options import OutputArguments

HELP = "merge same-architecture models (average, task arithmetic, TIES, SLERP)"

ARGUMENTS = (MergeConfig, OutputArguments)


def run(config: MergeConfig, output: OutputArguments) -> JobResult:
    from hfnet._table import format_table
    from hfnet.finish import SaveOptions
    from hfnet.jobs import current_command
    from hfnet.merging.merge import run as merge

    save = SaveOptions(output.output_dir, **output.save_kwargs())
    report = merge(config, save, command=current_command())
    weights = report.weights or [None] * len(report.models)
    lines = [format_table([{"parent": m, "weight": w} for m, w in zip(report.models, weights)])]
    for a in report.alignment:
        lines.append(
            f"aligned {a['model']}: {a['iterations']} iterations, weight inner product "
            f"{a['similarity_before']:.4g} -> {a['similarity_after']:.4g}"
        )
    lines.append(
        f"method {report.method}, head {report.head_policy}, {report.num_tensors} tensors "
        f"({len(report.copied_integer_tensors)} integer buffers copied), "
        f"BatchNorm layers recomputed: {report.batchnorm_layers_recomputed}"
    )
    if report.metrics:
        lines.append(format_table([{k: v for k, v in report.metrics.items()}]))
    lines.append(f"wrote {save.check()}")
    if report.hub_url:
        lines.append(f"pushed to {report.hub_url}")
    return JobResult("\n".join(lines), report.to_dict())
