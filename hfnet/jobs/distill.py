r"""Distill a teacher into a student, optionally through teacher assistants, with hints and merit weights.

    hfnet distill --teacher hfnet-demo/zoo/fashion_resnet --student zoo:tiny_vit --dataset fashion_mnist \
        --samples-per-class 100 --output-dir distilled --epochs 3
    accelerate launch --multi_gpu --num_processes 2 recipes/distill.py --teacher T --student zoo:tiny_vit \
        --dataset digits --output-dir run --max-steps 20 --use_cpu

Each trained stage is saved as ``OUTPUT_DIR/<stage>`` (``assistant_1``, ..., ``student``) with a model card, and the
table of all stages as ``OUTPUT_DIR/results.json``.
"""

from __future__ import annotations

from hfnet.distillation.options import DistillArguments, DistillationOptions
from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, with_defaults

HELP = "distill a teacher into a student (KD, assistants, hints, merit)"


DistillTraining = with_defaults(TrainingOptions, "DistillTraining", epochs=3.0, learning_rate=2e-3, logging_steps=20)
ARGUMENTS = (DistillArguments, DatasetArguments, DistillationOptions, DistillTraining, OutputArguments)


def run(
    script: DistillArguments,
    data_args: DatasetArguments,
    kd: DistillationOptions,
    training: TrainingOptions,
    output: OutputArguments,
) -> JobResult:
    from hfnet._table import format_table
    from hfnet.distillation.job import run_distillation
    from hfnet.jobs import current_command

    result = run_distillation(script, data_args, kd, training, output, command=current_command())
    if not result.main_process:
        return JobResult("", result.summary, main_process=False)
    lines = [format_table(result.rows), f"wrote {result.results_json}"]
    if output.push_to_hub:
        lines.append(f"pushed the student to https://huggingface.co/{output.hub_model_id}")
    return JobResult("\n".join(lines), result.summary)
