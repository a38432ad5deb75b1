r"""Merge same-architecture models into a Hub-format checkpoint with a model card.

hfnet merge hfnet-demo/zoo/fashion_resnet other/fashion_resnet --method average --output-dir merged
hfnet merge A B --method ties --base BASE --density 0.2 --output-dir merged-ties
hfnet merge A B --align --bn-dataset fashion_mnist --output-dir merged-aligned
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult
from hfnet.options import OutputArguments

HELP = "merge same-architecture models (average, task arithmetic, TIES, SLERP)"


@dataclass
class MergeArguments:
    """Merge: the parents and the method."""

    models: list[str] = field(
        metadata={"help": "two or more Hub-format folders or Hub ids of one architecture", "positional": True}
    )
    method: str = field(
        default="average",
        metadata={"help": "A merge method registered in hfnet.merging: average, task_arithmetic, ties or slerp."},
    )
    weights: list[float] = field(default_factory=list, metadata={"help": "One weight per model."})
    base: str | None = field(
        default=None, metadata={"help": "Base model the others were fine-tuned from (task_arithmetic, ties)."}
    )
    align: bool = field(
        default=False, metadata={"help": "Permute every model onto the first by weight matching (Git Re-Basin)."}
    )
    head_from: str | None = field(
        default=None, metadata={"help": "Take the classifier head, config and labels from this model."}
    )
    reinit_head: bool = field(default=False, metadata={"help": "Re-initialise the classifier head."})
    density: float | None = field(default=None, metadata={"help": "TIES: fraction of each task vector kept."})
    scale: float | None = field(default=None, metadata={"help": "task_arithmetic / ties: scale of the merged vector."})
    t: float | None = field(default=None, metadata={"help": "SLERP: interpolation fraction (0: the first model)."})
    trim: str | None = field(
        default=None,
        metadata={
            "help": "TIES: trim each tensor separately (tensor, as mergekit; default) or each model's whole task "
            "vector with one threshold (model, as the paper).",
            "choices": ("tensor", "model"),
        },
    )
    slerp_norm: str | None = field(
        default=None,
        metadata={
            "help": "SLERP: mergekit's formula on the raw tensors (mergekit; default) or the great-circle direction "
            "times the linearly interpolated norm (interpolate).",
            "choices": ("mergekit", "interpolate"),
        },
    )
    bn_dataset: str | None = field(
        default=None, metadata={"help": "Recompute BatchNorm statistics on this dataset's train split after merging."}
    )
    bn_samples: int = field(default=1024, metadata={"help": "Images for --bn-dataset."})
    seed: int = field(default=0, metadata={"help": "Seed of the BatchNorm images and of a re-initialised head."})

    def __post_init__(self) -> None:
        if self.head_from is not None and self.reinit_head:
            raise HfnetError("--head-from and --reinit-head exclude each other: pick one head policy")
        if self.bn_samples < 1:
            raise HfnetError(f"--bn-samples must be >= 1, got {self.bn_samples}")

    @property
    def options(self) -> dict[str, float | str]:
        """The method's keyword options that were given (``--slerp-norm`` is SLERP's ``norm``)."""
        names = {"density": "density", "scale": "scale", "t": "t", "trim": "trim", "slerp_norm": "norm"}
        return {key: getattr(self, attr) for attr, key in names.items() if getattr(self, attr) is not None}


ARGUMENTS = (MergeArguments, OutputArguments)


def run(script: MergeArguments, output: OutputArguments) -> JobResult:
    from hfnet._table import format_table
    from hfnet.jobs import current_command
    from hfnet.merging.merge import merge_models
    from hfnet.merging.registry import get_merge_method

    get_merge_method(script.method)  # a typo fails before anything is loaded
    bn_data = None
    if script.bn_dataset:
        from hfnet.data import load_image_dataset

        bn_data = load_image_dataset(script.bn_dataset, seed=script.seed)["train"].shuffle(seed=script.seed)
    report = merge_models(
        script.models,
        output.output_dir,
        method=script.method,
        weights=script.weights or None,
        base=script.base,
        head_from=script.head_from,
        reinit_head=script.reinit_head,
        align=script.align,
        options=script.options,
        batchnorm_dataset=bn_data,
        batchnorm_samples=script.bn_samples,
        seed=script.seed,
        command=current_command(),
        **output.save_kwargs(),
    )
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
    lines.append(f"wrote {report.output}")
    if output.push_to_hub:
        lines.append(f"pushed to https://huggingface.co/{output.hub_model_id}")
    return JobResult("\n".join(lines), report.to_dict())
