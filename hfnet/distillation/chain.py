"""Run distillation end to end: optional hint stage, KD, and teacher -> assistant(s) -> student chains.

Multi-stage compression through teacher assistants: Mirzadeh et al. 2020, "Improved Knowledge Distillation via
Teacher Assistant", https://arxiv.org/abs/1902.03393. The seed (Morikawa & Kameyama, PerCom workshops 2022) combines
the chain with FitNets hints.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hfnet.distillation.config import DistillationConfig, parse_hint
from hfnet.distillation.data import with_distillation_transform
from hfnet.distillation.hint import check_layer, run_hint_stage
from hfnet.distillation.trainer import DistillationTrainer, check_same_classes
from hfnet.errors import HfnetError
from hfnet.hub import HubClassifier, ModelCardInfo

logger = logging.getLogger(__name__)

__all__ = ["StageResult", "distill", "distill_chain", "run_hint_stage"]


@dataclass
class StageResult:
    """One stage of a chain: the trained model, its teacher's name, the measured metrics and the saved folder."""

    name: str
    teacher_name: str
    model: HubClassifier
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict[str, float]] = field(default_factory=list)
    output_dir: Path | None = None


def _num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def distill(
    student: HubClassifier,
    teacher: HubClassifier,
    train_dataset: Any,
    args: DistillationConfig,
    *,
    eval_dataset: Any = None,
    train_augment: bool = False,
) -> DistillationTrainer:
    """Distill ``teacher`` into ``student`` (hint stage first when ``args.hint`` is set) and return the KD trainer.

    ``train_dataset`` may be raw (``image``/``label``: both models get pixels from the raw image) or already
    transformed for the student. The student is trained in place.
    """
    from transformers import set_seed

    check_same_classes(student, teacher)
    teacher.eval().requires_grad_(False)
    set_seed(args.seed)
    train_ds = with_distillation_transform(
        train_dataset, student.preprocessing, teacher.preprocessing, train=train_augment
    )
    eval_ds = with_distillation_transform(eval_dataset, student.preprocessing, student.preprocessing)
    if len(train_ds) == 0:
        raise HfnetError("the training split is empty")
    if args.hint:
        run_hint_stage(student, teacher, train_ds, args, args.hint)
    trainer = DistillationTrainer(student, teacher, args, train_dataset=train_ds, eval_dataset=eval_ds)
    trainer.train()
    student.eval()
    return trainer


def _card(result: StageResult, chain: list[str], args: DistillationConfig, dataset_name: str | None) -> ModelCardInfo:
    settings = [
        ("temperature", args.temperature),
        ("alpha (soft weight)", args.alpha),
        ("merit delta", args.merit_delta),
        ("hint", args.hint or "none"),
        ("epochs", args.num_train_epochs),
        ("max steps", args.max_steps),
        ("learning rate", args.learning_rate),
        ("batch size", args.per_device_train_batch_size),
        ("seed", args.seed),
    ]
    rows = "\n".join(f"| {k} | {v} |" for k, v in settings)
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}
    measured = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items())
    details = (
        f"Distillation chain: {' -> '.join(chain)}.\n\n"
        "Loss: `(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))` (Hinton et al.)"
        + (", per-sample alpha +/- merit delta (merit-based distillation)" if args.merit_delta else "")
        + (", after a FitNets hint stage" if args.hint else "")
        + ".\n\n| setting | value |\n|---|---|\n"
        + rows
        + "\n\n| measured | value |\n|---|---|\n"
        + (measured or "| (not evaluated) | |")
        + "\n"
    )
    return ModelCardInfo(
        title=f"{result.name}: distilled from {result.teacher_name}",
        summary=f"Knowledge distillation of `{result.teacher_name}` into `{result.name}` with hfnet "
        f"({_num_params(result.model):,} parameters).",
        base_model=result.model.source,
        datasets=[dataset_name] if dataset_name else [],
        metrics=metrics,
        tags=["distillation", "knowledge-distillation"],
        details=details,
    )


def distill_chain(
    models: list[HubClassifier],
    train_dataset: Any,
    args: DistillationConfig,
    *,
    names: list[str] | None = None,
    eval_dataset: Any = None,
    hints: list[str | None] | None = None,
    output_dir: str | os.PathLike | None = None,
    dataset_name: str | None = None,
    train_augment: bool = False,
) -> list[StageResult]:
    """Teacher -> assistant(s) -> student: each stage distills the previous, already trained, model.

    Args:
        models: ``[teacher, assistant_1, ..., student]``; the teacher is used as is, the others are trained in place.
        train_dataset / eval_dataset: raw ``image``/``label`` datasets (each stage applies its own preprocessing).
        args: the KD settings shared by all stages (``args.hint`` applies to the last stage unless ``hints``).
        hints: one ``"S_LAYER:T_LAYER"`` or ``None`` per stage (``len(models) - 1`` entries).
        output_dir: when given, every trained stage is saved there as a Hub checkpoint with a model card.

    Returns:
        One :class:`StageResult` per trained stage, the student last.
    """
    from hfnet.evaluation import evaluate_classifier

    if len(models) < 2:
        raise HfnetError("a distillation chain needs a teacher and a student")
    names = names or ["teacher", *[f"assistant_{i}" for i in range(1, len(models) - 1)], "student"]
    if len(names) != len(models):
        raise HfnetError(f"{len(names)} names for {len(models)} models")
    stages = len(models) - 1
    if hints is None:
        hints = [None] * (stages - 1) + [args.hint]
    if len(hints) != stages:
        raise HfnetError(f"{len(hints)} hints for {stages} stages; give one (or None) per stage")
    for i in range(1, len(models)):
        check_same_classes(models[i], models[0])
        if hints[i - 1]:
            s_layer, t_layer = parse_hint(hints[i - 1])
            check_layer(models[i], s_layer, "student")
            check_layer(models[i - 1], t_layer, "teacher")
    results: list[StageResult] = []
    for i in range(1, len(models)):
        teacher, student = models[i - 1], models[i]
        stage_dir = Path(output_dir) / names[i] if output_dir else None
        stage_args = dataclasses.replace(
            args, hint=hints[i - 1], output_dir=str(stage_dir or Path(args.output_dir or ".") / names[i])
        )
        logger.info("stage %d/%d: %s -> %s", i, stages, names[i - 1], names[i])
        trainer = distill(
            student, teacher, train_dataset, stage_args, eval_dataset=eval_dataset, train_augment=train_augment
        )
        metrics: dict[str, float] = {}
        if eval_dataset is not None:
            ev = evaluate_classifier(student, eval_dataset, progress=False)
            metrics = {"accuracy": ev["accuracy"], "loss": ev["loss"]}
        metrics["parameters"] = float(_num_params(student))
        result = StageResult(names[i], names[i - 1], student, metrics, list(trainer.state.log_history), stage_dir)
        if stage_dir is not None:
            if trainer.accelerator.is_main_process:
                card = _card(result, names[: i + 1], stage_args, dataset_name)
                student.save_pretrained(stage_dir, card=card)
            trainer.accelerator.wait_for_everyone()
        results.append(result)
    return results
