r"""Prune a pretrained classifier for a dataset (AFR / ReFer / SNIP / magnitude / random), fine-tune it with the mask
fixed, evaluate, and save (and push) a Hub checkpoint with the zeros baked in and a model card.

    hfnet prune google/vit-base-patch16-224 --dataset uoft-cs/cifar10 --method afr --sparsity 0.9 \
        --output-dir vit-afr-90 --epochs 3 --batch-size 64 --learning-rate 1e-4
    hfnet prune hfnet-demo/zoo/fashion_vit --dataset digits --max-steps 100 --output-dir digits-afr-90
    accelerate launch --multi_gpu --num_processes 2 recipes/prune_vit.py MODEL --dataset digits \
        --output-dir run --max-steps 20 --use_cpu

``--epochs 0 --max-steps 0`` scores, masks and saves without fine-tuning.
"""

from __future__ import annotations

from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions
from hfnet.pruning.config import PruneArguments, PruningConfig

HELP = "prune a pretrained model (AFR, ReFer, SNIP, magnitude, random) and fine-tune"


ARGUMENTS = (PruneArguments, DatasetArguments, PruningConfig, TrainingOptions, OutputArguments)
SUMMARY_KEYS = ("method", "sparsity_prunable", "sparsity_all_weights", "accuracy", "loss", "train_steps")
STRUCTURED_KEYS = (
    "method",
    "sparsity_prunable",
    "heads_per_block_after",
    "neurons_per_block_after",
    "params_before",
    "params_after",
    "latency_ratio_b1",
    "accuracy",
    "train_steps",
)


def run(
    script: PruneArguments,
    data_args: DatasetArguments,
    config: PruningConfig,
    training: TrainingOptions,
    output: OutputArguments,
) -> JobResult:
    from hfnet._table import format_table
    from hfnet.jobs import current_command
    from hfnet.jobs._common import result_lines
    from hfnet.pruning.job import run_prune_job

    summary = run_prune_job(script, data_args, config, training, output, command=current_command())
    if not summary.pop("main_process", True):
        return JobResult("", summary, main_process=False)
    keys = STRUCTURED_KEYS if summary.get("structured") else SUMMARY_KEYS
    lines = [format_table([{k: summary[k] for k in keys if k in summary}])]
    if summary.get("heads_note"):
        lines.append(f"note: {summary['heads_note']}")
    lines += result_lines(summary, output.output_dir, script.json)
    return JobResult("\n".join(lines), summary)
