"""The distill job, as ``hfnet distill`` and ``recipes/distill.py`` run it: options in, result out.

    result = run_distillation(models, data_args, kd, training, output)

reads like its steps: check the output folder, load the dataset, load the chain (teacher, assistants, student),
distill stage by stage (each stage saved through its card), then the table of all stages as ``results.json``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import PartialState

from hfnet._io import atomic_write_text, record_written
from hfnet.classifier import HubClassifier, load_classifier
from hfnet.data import class_names
from hfnet.distillation.chain import StageResult, distill_chain
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.models import load_model_spec
from hfnet.distillation.options import DistillArguments, DistillationOptions
from hfnet.errors import HfnetError
from hfnet.evaluation import evaluate_classifier
from hfnet.finish import SaveOptions
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, config_dict

__all__ = ["DistillationResult", "run_distillation"]


@dataclass
class DistillationResult:
    """One row per model (teacher first), the summary written as ``results.json``, and where it went."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    results_json: Path | None = None
    main_process: bool = True


def run_distillation(
    models: DistillArguments,
    data_args: DatasetArguments,
    kd: DistillationOptions,
    training: TrainingOptions,
    output: OutputArguments,
    *,
    command: str | None = None,
) -> DistillationResult:
    """Distill ``models.teacher`` into ``models.student`` through ``models.assistants``; every stage saved."""
    hints = models.hints_per_stage()  # validated before anything is loaded
    save = SaveOptions(output.output_dir, **output.save_kwargs())
    save.check()  # the folder rule, before anything is loaded or downloaded

    # Dataset
    dataset = data_args.load(seed=training.seed)
    names = class_names(dataset)

    # Model
    chain = load_chain(models, names, data_args.dataset, seed=training.seed)

    # Distill (each stage saved with its card on the main process)
    stage_names = ["teacher", *[f"assistant_{i}" for i in range(1, len(chain) - 1)], "student"]
    with tempfile.TemporaryDirectory(prefix="hfnet-distill-") as work:
        hfnet_defaults = dict(save_strategy="no", disable_tqdm=False, dataloader_pin_memory=False)
        config = DistillationConfig(
            **{**hfnet_defaults, **training.training_arguments_kwargs(work)}, **kd.distillation_kwargs()
        )
        results = distill_chain(
            chain,
            dataset["train"],
            config,
            names=stage_names,
            eval_dataset=dataset["test"],
            hints=hints,
            output_dir=save.output_dir,
            dataset_name=data_args.dataset,
            train_augment=models.augment,
            command=command,
            record=config_dict(models, data_args, kd, training, output),
            **output.save_kwargs(),
        )

    # Save the table of all stages
    state = PartialState()
    summary: dict[str, Any] = {"world_size": state.num_processes, "stages": [r.name for r in results]}
    if not state.is_main_process:
        return DistillationResult(summary=summary, main_process=False)
    summary["rows"] = stage_rows(models, chain[0], results, dataset["test"])
    path = atomic_write_text(Path(output.output_dir) / "results.json", json.dumps(summary, indent=2, default=str))
    record_written(output.output_dir, ["results.json"])
    return DistillationResult(summary["rows"], summary, path)


def load_chain(models: DistillArguments, names: list[str], dataset_name: str, *, seed: int) -> list[HubClassifier]:
    """``[teacher, assistant_1, ..., student]``; the teacher must predict the dataset's classes."""
    teacher = load_classifier(models.teacher)
    if teacher.num_classes != len(names) or teacher.class_names not in (None, names):
        raise HfnetError(
            f"the teacher {models.teacher} predicts {teacher.num_classes} classes, the dataset {dataset_name} "
            f"has {len(names)}; distill on the data the teacher was trained for"
        )
    if teacher.class_names is None:
        teacher.class_names = names
    chain = [teacher]
    for i, spec in enumerate([*models.assistants, models.student]):
        chain.append(
            load_model_spec(
                spec, names, seed=seed + i, image_size=models.image_size, replace_head=models.replace_student_head
            )
        )
    return chain


def stage_rows(models: DistillArguments, teacher, results: list[StageResult], test_dataset) -> list[dict[str, Any]]:
    """The printed table: the teacher measured on the test split, then every trained stage."""
    teacher_metrics = evaluate_classifier(teacher, test_dataset, progress=False)
    rows: list[dict[str, Any]] = [
        {
            "model": "teacher",
            "from": models.teacher,
            "parameters": sum(p.numel() for p in teacher.parameters()),
            "accuracy": teacher_metrics["accuracy"],
        }
    ]
    for r, spec in zip(results, [*models.assistants, models.student]):
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
    return rows
