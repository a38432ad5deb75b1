r"""Distill a teacher into a student, optionally through teacher assistants, with hints and merit weights.

    hfnet distill --teacher hfnet-demo/zoo/fashion_resnet --student zoo:tiny_vit --dataset fashion_mnist \
        --samples-per-class 100 --output-dir distilled --epochs 3
    accelerate launch --multi_gpu --num_processes 2 recipes/distill.py --teacher T --student zoo:tiny_vit \
        --dataset digits --output-dir run --max-steps 20 --use_cpu

Each trained stage is saved as ``OUTPUT_DIR/<stage>`` (``assistant_1``, ..., ``student``) with a model card, and the
table of all stages as ``OUTPUT_DIR/results.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.distillation.options import DistillationOptions
from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, with_defaults

HELP = "distill a teacher into a student (KD, assistants, hints, merit)"


@dataclass
class DistillArguments:
    """Models: the teacher, the assistants and the student."""

    teacher: str = field(
        metadata={
            "help": "Trained teacher: Hub id or local Hub-format folder.",
            "aliases": ("--teacher_model_name_or_path", "--teacher-model-name-or-path"),
        }
    )
    student: str = field(
        metadata={
            "help": "Student: a checkpoint, zoo:tiny_vit[:key=value,...], zoo:tiny_resnet[:...] or timm:NAME.",
            "aliases": ("--model_name_or_path", "--model-name-or-path"),
        }
    )
    assistants: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Teacher assistant(s) of intermediate size, same forms as --student, largest first.",
            "aliases": ("--assistant",),
            "metavar": "A",
        },
    )
    hint: list[str] = field(
        default_factory=list,
        metadata={
            "help": "FitNets hint stage S_LAYER:T_LAYER (module names in the student and in the model it learns "
            "from). One value applies to the last stage; give one per stage ('none' to skip one) to set each.",
            "metavar": "S_LAYER:T_LAYER",
        },
    )
    image_size: int | None = field(default=None, metadata={"help": "Input size of zoo:/timm: students.", "min": 1})
    augment: bool = field(default=False, metadata={"help": "Random resized crops on the training set."})
    replace_student_head: bool = field(
        default=False, metadata={"help": "Give a checkpoint student a fresh head for the dataset's classes."}
    )

    def hints_per_stage(self) -> list[str | None] | None:
        """One hint (or None) per stage, or None when no hint was given."""
        from hfnet.distillation.config import parse_hint
        from hfnet.errors import HfnetError

        stages = len(self.assistants) + 1
        hints = [None if h.lower() == "none" else h for h in self.hint]
        for h in hints:
            if h is not None:
                parse_hint(h)
        if len(hints) == 1 and stages > 1:
            hints = [None] * (stages - 1) + hints
        if hints and len(hints) != stages:
            raise HfnetError(f"{len(self.hint)} --hint values for {stages} stages; give one, or one per stage")
        return hints or None


DistillTraining = with_defaults(TrainingOptions, "DistillTraining", epochs=3.0, learning_rate=2e-3, logging_steps=20)
ARGUMENTS = (DistillArguments, DatasetArguments, DistillationOptions, DistillTraining, OutputArguments)


def run(
    script: DistillArguments,
    data_args: DatasetArguments,
    kd: DistillationOptions,
    training: TrainingOptions,
    output: OutputArguments,
) -> JobResult:
    import tempfile
    from pathlib import Path

    from accelerate import PartialState

    from hfnet._io import record_written
    from hfnet._table import format_table
    from hfnet.classifier import load_classifier
    from hfnet.data import class_names
    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig
    from hfnet.distillation.models import load_model_spec
    from hfnet.errors import HfnetError
    from hfnet.evaluation import evaluate_classifier
    from hfnet.jobs import current_command
    from hfnet.jobs._common import write_json

    hints = script.hints_per_stage()  # validated before anything is loaded

    # Dataset
    dataset = data_args.load(seed=training.seed)
    names = class_names(dataset)

    # Model
    teacher = load_classifier(script.teacher)
    if teacher.num_classes != len(names) or teacher.class_names not in (None, names):
        raise HfnetError(
            f"the teacher {script.teacher} predicts {teacher.num_classes} classes, the dataset {data_args.dataset} "
            f"has {len(names)}; distill on the data the teacher was trained for"
        )
    if teacher.class_names is None:
        teacher.class_names = names
    specs = [*script.assistants, script.student]
    models = [teacher]
    for i, spec in enumerate(specs):
        models.append(
            load_model_spec(
                spec,
                names,
                seed=training.seed + i,
                image_size=script.image_size,
                replace_head=script.replace_student_head,
            )
        )

    # Distill
    stage_names = ["teacher", *[f"assistant_{i}" for i in range(1, len(specs))], "student"]
    with tempfile.TemporaryDirectory(prefix="hfnet-distill-") as work:
        config = DistillationConfig(
            **training.training_arguments_kwargs(work),
            **kd.distillation_kwargs(),
            save_strategy="no",
            disable_tqdm=False,
            dataloader_pin_memory=False,
        )
        results = distill_chain(
            models,
            dataset["train"],
            config,
            names=stage_names,
            eval_dataset=dataset["test"],
            hints=hints,
            output_dir=output.output_dir,
            dataset_name=data_args.dataset,
            train_augment=script.augment,
            command=current_command(),
            **output.save_kwargs(),
        )

    # Save / push (distill_chain saved every stage on the main process)
    state = PartialState()
    summary = {"world_size": state.num_processes, "stages": [r.name for r in results]}
    if not state.is_main_process:
        return JobResult("", summary, main_process=False)
    teacher_metrics = evaluate_classifier(teacher, dataset["test"], progress=False)
    rows = [
        {
            "model": "teacher",
            "from": script.teacher,
            "parameters": sum(p.numel() for p in teacher.parameters()),
            "accuracy": teacher_metrics["accuracy"],
        }
    ]
    for r, spec in zip(results, specs):
        rows.append(
            {
                "model": r.name,
                "from": spec,
                "teacher": r.teacher_name,
                "parameters": int(r.metrics["parameters"]),
                "accuracy": r.metrics.get("accuracy"),
                "saved": str(r.output_dir),
            }
        )
    summary["rows"] = rows
    lines = [format_table(rows), f"wrote {write_json(str(Path(output.output_dir) / 'results.json'), summary)}"]
    record_written(output.output_dir, ["results.json"])
    if output.push_to_hub:
        lines.append(f"pushed the student to https://huggingface.co/{output.hub_model_id}")
    return JobResult("\n".join(lines), summary)
