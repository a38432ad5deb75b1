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
from accelerate import PartialState

from hfnet.cards import TRAINING_CARD_KEYS, ModelCardInfo
from hfnet.classifier import HubClassifier
from hfnet.distillation.config import DistillationConfig, parse_hint
from hfnet.distillation.data import with_distillation_transform
from hfnet.distillation.hint import check_layer, run_hint_stage
from hfnet.distillation.trainer import DistillationTrainer, check_same_classes
from hfnet.errors import HfnetError

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


def _card(
    result: StageResult,
    chain: list[str],
    args: DistillationConfig,
    dataset_name: str | None,
    *,
    chain_models: list[HubClassifier] | None = None,
    command: str | None = None,
) -> ModelCardInfo:
    from hfnet.cards import display_name

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
    chain_models = chain_models or []
    # who taught whom, by where each model came from (Hub ids linked, local folders by name)
    parents: list[tuple[str, str]] = []
    for role, clf in zip(chain[:-1], chain_models[:-1]):
        label = "teacher" if role == chain[0] else f"assistant ({role})"
        parents.append((label, clf.source or role))
    student = chain_models[-1] if chain_models else result.model
    if student.source:
        parents.append(("student initialised from", student.source))
    teacher_shown = (
        display_name(chain_models[-2].source)
        if len(chain_models) > 1 and chain_models[-2].source
        else (f"`{result.teacher_name}`")
    )
    details = (
        f"Distillation chain: {' -> '.join(chain)}.\n\n"
        "Loss: `(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))` (Hinton et al.)"
        + (", per-sample alpha +/- merit delta (merit-based distillation)" if args.merit_delta else "")
        + (", after a FitNets hint stage" if args.hint else "")
        + ".\n\n| setting | value |\n|---|---|\n"
        + rows
        + "\n"
    )
    config = {k: getattr(args, k) for k in _REPRODUCE_KEYS if hasattr(args, k)}
    config["chain"] = [clf.source for clf in chain_models] or chain
    return ModelCardInfo(
        title=f"{result.name}: distilled from {result.teacher_name}",
        summary=f"Knowledge distillation of {teacher_shown} into `{result.name}` with hfnet "
        f"({_num_params(result.model):,} parameters).",
        base_model=student.hub_id,
        base_model_relation="finetune",
        datasets=[dataset_name] if dataset_name else [],
        metrics=metrics,
        eval_dataset=(dataset_name or "evaluation set") if "accuracy" in metrics else None,
        eval_split="test",
        parents=parents,
        command=command,
        config=config,
        tags=["distillation", "knowledge-distillation"],
        details=details,
    )


_REPRODUCE_KEYS = (
    "temperature",
    "alpha",
    "merit_delta",
    "hint",
    "hint_epochs",
    "hint_max_steps",
    "hint_learning_rate",
    *TRAINING_CARD_KEYS,
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
    overwrite: bool = False,
    push_to_hub: bool | None = None,
    hub_model_id: str | None = None,
    private: bool | None = None,
    command: str | None = None,
) -> list[StageResult]:
    """Teacher -> assistant(s) -> student: each stage distills the previous, already trained, model.

    Args:
        models: ``[teacher, assistant_1, ..., student]``; the teacher is used as is, the others are trained in place.
        train_dataset / eval_dataset: raw ``image``/``label`` datasets (each stage applies its own preprocessing).
        args: the KD settings shared by all stages (``args.hint`` applies to the last stage unless ``hints``).
        hints: one ``"S_LAYER:T_LAYER"`` or ``None`` per stage (``len(models) - 1`` entries).
        output_dir: when given, every trained stage is saved there as a Hub checkpoint with a model card.
        overwrite: write into an existing ``output_dir`` that holds other files (only hfnet's are replaced).
        push_to_hub / hub_model_id / private: upload the student to the Hub repo ``hub_model_id`` (default: the
            ``push_to_hub`` / ``hub_model_id`` / ``hub_private_repo`` of ``args``); a failed push keeps the local
            result and raises a one-line ``HfnetError``. The Trainer itself never pushes.
        command: the command line that reproduces the run, shown in the cards.

    Returns:
        One :class:`StageResult` per trained stage, the student last.
    """
    from hfnet._io import prepare_output_dir, record_written
    from hfnet.evaluation import evaluate_classifier
    from hfnet.hub import push_result
    from hfnet.training import missing_dirs, remove_empty_dirs

    if len(models) < 2:
        raise HfnetError("a distillation chain needs a teacher and a student")
    push_to_hub = bool(args.push_to_hub if push_to_hub is None else push_to_hub)
    hub_model_id = hub_model_id or args.hub_model_id
    private = bool(args.hub_private_repo if private is None else private)
    if push_to_hub and (output_dir is None or not hub_model_id):
        raise HfnetError("push_to_hub needs output_dir (saved locally first) and hub_model_id (OWNER/NAME)")
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
    if output_dir is not None and PartialState().is_main_process:
        prepare_output_dir(output_dir, overwrite=overwrite)  # refuse before training, not after
    results: list[StageResult] = []
    for i in range(1, len(models)):
        teacher, student = models[i - 1], models[i]
        stage_dir = Path(output_dir) / names[i] if output_dir else None
        # the Trainer's own files (checkpoints, logs) never go into the Hub checkpoint folder
        trainer_root = Path(args.output_dir or (Path(output_dir) / "runs" if output_dir else "."))
        if output_dir is not None and trainer_root.resolve() == Path(output_dir).resolve():
            trainer_root = trainer_root / "runs"
        created = missing_dirs(trainer_root / names[i])
        stage_args = dataclasses.replace(
            args,
            hint=hints[i - 1],
            output_dir=str(trainer_root / names[i]),
            push_to_hub=False,  # hfnet pushes the saved Hub-format folder, not the Trainer's checkpoint
        )
        logger.info("stage %d/%d: %s -> %s", i, stages, names[i - 1], names[i])
        try:
            trainer = distill(
                student, teacher, train_dataset, stage_args, eval_dataset=eval_dataset, train_augment=train_augment
            )
        finally:
            remove_empty_dirs(created)
        metrics: dict[str, float] = {}
        if eval_dataset is not None:
            ev = evaluate_classifier(student, eval_dataset, progress=False)
            metrics = {"accuracy": ev["accuracy"], "loss": ev["loss"]}
        metrics["parameters"] = float(_num_params(student))
        result = StageResult(names[i], names[i - 1], student, metrics, list(trainer.state.log_history), stage_dir)
        if stage_dir is not None:
            if trainer.accelerator.is_main_process:
                import tempfile

                from hfnet._plots import plot_training_curves

                card = _card(
                    result, names[: i + 1], stage_args, dataset_name, chain_models=models[: i + 1], command=command
                )
                with tempfile.TemporaryDirectory(prefix="hfnet-plots-") as tmp:
                    title = f"{names[i]} distilled from {names[i - 1]}"
                    curves = plot_training_curves(result.log_history, Path(tmp) / "training_curves.png", title=title)
                    if curves is not None:  # copied into the checkpoint folder and embedded in the card
                        card.plots = [*card.plots, str(curves)]
                    student.save_pretrained(stage_dir, card=card, overwrite=overwrite)
                inside = [names[i]] + (
                    [trainer_root.name]
                    if trainer_root.parent.resolve() == Path(output_dir).resolve() and trainer_root.exists()
                    else []
                )
                record_written(output_dir, inside)
            trainer.accelerator.wait_for_everyone()
        results.append(result)
    if push_to_hub and PartialState().is_main_process:
        push_result(results[-1].output_dir, push=True, hub_model_id=hub_model_id, private=private)
    return results
