r"""Compress a classifier fine-tuned for a dataset: structured pruning (whole heads and MLP neurons) in stages, each
recovered with knowledge distillation from its teacher (the dense model or the previous stage), optional hints.

    hfnet compress ./vit-cifar10 --dataset uoft-cs/cifar10 --sparsity 0.5 --output-dir vit-cifar10-50 \
        --max-steps 2000 --learning-rate 1e-4
    hfnet compress ./fashion-vit --dataset fashion_mnist --sparsity 0.75 --stages 3 --teacher-of-stage previous \
        --hint-weight 1 --output-dir fashion-vit-75
    hfnet compress ./fashion-vit --dataset fashion_mnist --sparsity 0.5 --alpha 1 --augment mixup \
        --output-dir fashion-vit-50   # pure KD on mixed images that teacher and student both see
    accelerate launch --multi_gpu --num_processes 2 recipes/compress.py MODEL --dataset digits \
        --output-dir run --max-steps 20 --use_cpu

MODEL must predict the dataset's classes (run ``hfnet finetune`` first). ViTs only (transformers ViT/DeiT-style:
heads and neurons; timm ViT: neurons); CNNs are refused with what would be needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.compression.config import CompressConfig
from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, with_defaults

HELP = "compress a fine-tuned ViT: structured pruning in stages + KD recovery from the dense teacher"


@dataclass
class CompressArguments:
    """Model: the fine-tuned classifier to compress (the teacher)."""

    model: str = field(
        metadata={
            "help": "classifier fine-tuned for the dataset: Hub id or local Hub-format folder",
            "positional": True,
        }
    )
    json: str | None = field(default=None, metadata={"help": "Also write the run summary as JSON here."})


CompressTraining = with_defaults(TrainingOptions, "CompressTraining", learning_rate=2e-4, epochs=3.0)
ARGUMENTS = (CompressArguments, DatasetArguments, CompressConfig, CompressTraining, OutputArguments)
KEYS = ("accuracy_teacher", "accuracy", "params_teacher", "params_compressed", "latency_ratio_b1", "latency_ratio_b32")


def run(
    script: CompressArguments,
    data_args: DatasetArguments,
    config: CompressConfig,
    training: TrainingOptions,
    output: OutputArguments,
) -> JobResult:
    from accelerate import PartialState

    from hfnet._table import format_table
    from hfnet.compression.pipeline import run_compress
    from hfnet.finish import SaveOptions
    from hfnet.jobs import current_command
    from hfnet.jobs._common import result_lines
    from hfnet.options import config_dict

    # Save (checked before anything is loaded)
    save = SaveOptions(output.output_dir, **output.save_kwargs())
    save.check()

    # Dataset
    data = data_args.load(seed=training.seed)

    # Compress: teacher -> stages (prune, KD) -> finish
    done, summary = run_compress(
        script.model,
        data,
        config,
        training,
        save,
        dataset_name=data_args.dataset,
        command=current_command(),
        settings=config_dict(script, data_args, config, training, output),
        progress=True,
    )
    if not PartialState().is_main_process:
        return JobResult("", summary, main_process=False)
    summary.update(done.to_dict())
    lines = [format_table([{k: summary[k] for k in KEYS if k in summary}])]
    stages = [{k: s[k] for k in ("target", "teacher", "steps", "heads_per_block_after", "neurons_per_block_after")}
              for s in summary["stages"]]  # fmt: skip
    lines.append(format_table(stages))
    lines += result_lines(summary, output.output_dir, script.json)
    return JobResult("\n".join(lines), summary)
