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
from transformers import set_seed

from hfnet._io import prepare_output_dir, record_written
from hfnet.cards import TRAINING_CARD_KEYS, ModelCardInfo, display_name
from hfnet.classifier import HubClassifier
from hfnet.distillation.config import DistillationConfig, parse_hint
from hfnet.distillation.data import (
    TransferSet,
    check_transfer_images,
    load_transfer_set,
    with_distillation_transform,
    with_transfer_set,
)
from hfnet.distillation.hint import check_layer, run_hint_stage
from hfnet.distillation.trainer import DistillationTrainer, check_same_classes
from hfnet.errors import HfnetError
from hfnet.evaluation import evaluate_classifier
from hfnet.finish import SaveOptions, finish
from hfnet.training import missing_dirs, remove_empty_dirs

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
    unlabeled: Any = None,
) -> DistillationTrainer:
    """Distill ``teacher`` into ``student`` (hint stage first when ``args.hint`` is set) and return the KD trainer.

    ``train_dataset`` may be raw (``image``/``label``: both models get pixels from the raw image) or already
    transformed for the student. ``unlabeled``: images (a ``datasets.Dataset`` with an ``image`` column, e.g.
    :attr:`TransferSet.images`; default: loaded from ``args.unlabeled_dataset`` when set) appended to the raw training
    set with the label -100, trained on the soft targets only (hint stage included); evaluation never uses them. The
    student is trained in place.
    """
    check_same_classes(student, teacher)
    teacher.eval().requires_grad_(False)
    set_seed(args.seed)
    if unlabeled is None and args.unlabeled_dataset:
        _, transfer = _resolve_transfer_set(
            args, None, [teacher, student], ["teacher", "student"], train_dataset, eval_dataset
        )
        unlabeled = transfer.images
    if unlabeled is not None:
        train_dataset = with_transfer_set(train_dataset, unlabeled)
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
    record: dict[str, Any] | None = None,
    transfer: TransferSet | None = None,
) -> ModelCardInfo:
    """A trained stage's model card: its lineage, measured metrics, settings and the config that reproduces it."""
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}
    chain_models = chain_models or []
    parents, student, teacher_shown = _lineage(result, chain, chain_models)
    return ModelCardInfo(
        title=f"{result.name}: distilled from {result.teacher_name}",
        summary=f"Knowledge distillation of {teacher_shown} into `{result.name}` with hfnet "
        f"({_num_params(result.model):,} parameters).",
        base_model=student.hub_id,
        base_model_relation="finetune",
        datasets=_card_datasets(dataset_name, transfer),
        metrics=metrics,
        eval_dataset=(dataset_name or "evaluation set") if "accuracy" in metrics else None,
        eval_split="test",
        parents=parents,
        command=command,
        config=_card_config(args, chain, chain_models, record),
        tags=["distillation", "knowledge-distillation"],
        settings=_card_settings(args, transfer),
        settings_title="Distillation",
        details=_details(chain, args, transfer),
    )


def _card_settings(args: DistillationConfig, transfer: TransferSet | None) -> dict[str, Any]:
    """The card's "Distillation" table: the KD settings, the transfer set and the training schedule."""
    return {
        "temperature": args.temperature,
        "alpha (soft weight)": args.alpha,
        "merit delta": args.merit_delta,
        "hint": args.hint or "none",
        **({"transfer set (unlabelled)": transfer.describe()} if transfer is not None else {}),
        "epochs": args.num_train_epochs,
        "max steps": args.max_steps,
        "learning rate": args.learning_rate,
        "batch size": args.per_device_train_batch_size,
        "seed": args.seed,
    }


def _card_datasets(dataset_name: str | None, transfer: TransferSet | None) -> list[str]:
    """The datasets the card names: the labelled one, then the transfer set's when it is another."""
    datasets_used = [dataset_name] if dataset_name else []
    if transfer is not None and transfer.name not in datasets_used:
        datasets_used.append(transfer.name)
    return datasets_used


def _card_config(
    args: DistillationConfig, chain: list[str], chain_models: list[HubClassifier], record: dict[str, Any] | None
) -> dict[str, Any]:
    """The card's ``config``: the job's options when recorded, else the KD and training settings and the chain."""
    if record is not None:  # the job's options (hfnet.options.config_dict): what --config FILE reads back
        return dict(record)
    config = {k: getattr(args, k) for k in _REPRODUCE_KEYS if hasattr(args, k)}
    config["chain"] = [clf.source for clf in chain_models] or chain
    return config


def _lineage(result: StageResult, chain: list[str], chain_models: list[HubClassifier]):
    """Who taught whom, by where each model came from (Hub ids linked, local folders by name): the card's parents,
    the student model and how the teacher is named in the summary."""
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
    return parents, student, teacher_shown


def _details(chain: list[str], args: DistillationConfig, transfer: TransferSet | None) -> str:
    """The card's account of the chain, the loss and the transfer set."""
    return (
        f"Distillation chain: {' -> '.join(chain)}.\n\n"
        "Loss: `(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))` (Hinton et al.)"
        + (", per-sample alpha +/- merit delta (merit-based distillation)" if args.merit_delta else "")
        + (", after a FitNets hint stage" if args.hint else "")
        + "."
        + (
            f"\n\nTransfer set: {transfer.describe()}, appended to the labelled training set with the label -100 "
            "and trained on the soft term only (alpha 1, no hard term); the evaluation never used them."
            if transfer is not None
            else ""
        )
    )


_REPRODUCE_KEYS = (
    "temperature",
    "alpha",
    "merit_delta",
    "hint",
    "hint_epochs",
    "hint_max_steps",
    "hint_learning_rate",
    "unlabeled_dataset",
    "unlabeled_split",
    "unlabeled_samples",
    "unlabeled_image_column",
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
    record: dict[str, Any] | None = None,
    transfer_set: TransferSet | None = None,
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
        record: the job's options (:func:`hfnet.options.config_dict`), recorded as each card's ``config``.
        transfer_set: unlabelled images every stage trains on besides ``train_dataset`` (soft targets only); by
            default loaded from ``args.unlabeled_dataset`` / ``unlabeled_split`` / ``unlabeled_samples`` when set,
            leaving out any image of ``train_dataset`` and ``eval_dataset``. Each card records it.

    Returns:
        One :class:`StageResult` per trained stage, the student last.
    """
    save = _save_options(args, output_dir, overwrite, push_to_hub, hub_model_id, private)
    names, hints = _check_chain(models, args, names, hints)
    save.check()  # refuse before training; the folder is created at the first save
    args, transfer_set = _resolve_transfer_set(args, transfer_set, models, names, train_dataset, eval_dataset)
    card_kwargs = dict(dataset_name=dataset_name, command=command, record=record, transfer=transfer_set)
    results: list[StageResult] = []
    for i in range(1, len(models)):
        stage_save = _stage_save(save, i, len(models))
        stage = (i, models, names, hints[i - 1], train_dataset, eval_dataset, args, stage_save, train_augment)
        results.append(_run_stage(*stage, card_kwargs, transfer_set))
    return results


def _save_options(
    args: DistillationConfig,
    output_dir: str | os.PathLike | None,
    overwrite: bool,
    push_to_hub: bool | None,
    hub_model_id: str | None,
    private: bool | None,
) -> SaveOptions:
    """Where and how the chain's stages are saved: the arguments given, else the push settings of ``args``."""
    return SaveOptions(
        str(output_dir) if output_dir is not None else None,
        overwrite=overwrite,
        push_to_hub=bool(args.push_to_hub if push_to_hub is None else push_to_hub),
        hub_model_id=hub_model_id or args.hub_model_id,
        private=bool(args.hub_private_repo if private is None else private),
    )


def _stage_save(save: SaveOptions, i: int, num_models: int) -> SaveOptions:
    """Stage ``i``'s save options: only the student, the last stage, is pushed."""
    return dataclasses.replace(save, push_to_hub=save.push_to_hub and i == num_models - 1)


def _resolve_transfer_set(args, transfer_set, models, names, train_dataset, eval_dataset):
    """The transfer set (given, or loaded from ``args.unlabeled_*``), checked against every model's preprocessing;
    ``args`` then names it (the trainer logs the labelled fraction, the cards' config names the set). Naming it
    re-validates ``args``, which refuses alpha 0: the soft targets are the transfer set's only loss."""
    if transfer_set is None and args.unlabeled_dataset:
        transfer_set = _transfer_from_args(args, train_dataset, eval_dataset)
    if transfer_set is None:
        return args, None
    if not args.unlabeled_dataset:
        args = dataclasses.replace(
            args,
            unlabeled_dataset=transfer_set.name,
            unlabeled_split=transfer_set.split,
            unlabeled_samples=len(transfer_set.images),
        )
    check_transfer_images(transfer_set.images, {n: m.preprocessing for n, m in zip(names, models)})
    logger.info("transfer set: %s", transfer_set.describe())
    return args, transfer_set


def _check_chain(models, args, names, hints) -> tuple[list[str], list[str | None]]:
    """The stage names and one hint per stage, every model and hint layer checked before any training."""
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
    return names, list(hints)


def _trainer_root(args: DistillationConfig, output_dir: str | None) -> Path:
    """Where the Trainer's own files (checkpoints, logs) go: never into a Hub checkpoint folder."""
    root = Path(args.output_dir or (Path(output_dir) / "runs" if output_dir else "."))
    if output_dir is not None and root.resolve() == Path(output_dir).resolve():
        root = root / "runs"
    return root


def _run_stage(
    i: int,
    models: list[HubClassifier],
    names: list[str],
    hint: str | None,
    train_dataset,
    eval_dataset,
    args: DistillationConfig,
    save: SaveOptions,
    train_augment: bool,
    card_kwargs: dict[str, Any],
    transfer_set: TransferSet | None = None,
) -> StageResult:
    """Distill ``models[i - 1]`` into ``models[i]``, then the shared tail: evaluate, card, save (and push)."""
    teacher, student = models[i - 1], models[i]
    trainer_root = _trainer_root(args, save.output_dir)
    stage_args = _stage_args(args, hint, trainer_root / names[i])
    logger.info("stage %d/%d: %s -> %s", i, len(models) - 1, names[i - 1], names[i])
    unlabeled = transfer_set.images if transfer_set is not None else None
    trainer = _train_stage(student, teacher, train_dataset, stage_args, eval_dataset, train_augment, unlabeled)
    stage_dir = Path(save.output_dir) / names[i] if save.output_dir else None
    result = StageResult(names[i], names[i - 1], student, {}, list(trainer.state.log_history), stage_dir)
    if save.output_dir is None:
        measured = evaluate_classifier(student, eval_dataset, progress=False) if eval_dataset is not None else {}
        result.metrics = _stage_metrics(measured, student)
        return result

    def card(measured) -> ModelCardInfo:
        result.metrics = _stage_metrics(measured, student)
        return _card(result, names[: i + 1], stage_args, chain_models=models[: i + 1], **card_kwargs)

    _save_stage(result, save, card, eval_dataset, trainer_root)
    return result


def _stage_args(args: DistillationConfig, hint: str | None, trainer_dir: Path) -> DistillationConfig:
    """A stage's settings: the chain's, with the stage's hint and Trainer folder, and no push by the Trainer."""
    return dataclasses.replace(
        args,
        hint=hint,
        output_dir=str(trainer_dir),
        push_to_hub=False,  # hfnet pushes the saved Hub-format folder, not the Trainer's checkpoint
    )


def _train_stage(
    student: HubClassifier,
    teacher: HubClassifier,
    train_dataset,
    stage_args: DistillationConfig,
    eval_dataset,
    train_augment: bool,
    unlabeled,
) -> DistillationTrainer:
    """Distill ``teacher`` into ``student``; the Trainer folders this made are removed again when left empty."""
    created = missing_dirs(stage_args.output_dir)
    try:
        return distill(
            student,
            teacher,
            train_dataset,
            stage_args,
            eval_dataset=eval_dataset,
            train_augment=train_augment,
            unlabeled=unlabeled,
        )
    finally:
        remove_empty_dirs(created)


def _save_stage(result: StageResult, save: SaveOptions, card, eval_dataset, trainer_root: Path) -> None:
    """Save the trained stage into ``result.output_dir`` through :func:`finish` and record what hfnet wrote."""
    if PartialState().is_main_process:
        prepare_output_dir(save.output_dir, overwrite=save.overwrite)  # an interrupted run leaves no new folder
    stage_save = dataclasses.replace(save, output_dir=str(result.output_dir))
    finish(result.model, stage_save, card, eval_dataset=eval_dataset, log_history=result.log_history)
    if PartialState().is_main_process:
        in_output = trainer_root.parent.resolve() == Path(save.output_dir).resolve() and trainer_root.exists()
        record_written(save.output_dir, [result.name] + ([trainer_root.name] if in_output else []))


def _stage_metrics(measured, student) -> dict[str, float]:
    metrics = {k: measured[k] for k in ("accuracy", "loss") if k in measured}
    metrics["parameters"] = float(_num_params(student))
    return metrics


def _transfer_from_args(args, train_dataset, eval_dataset):
    """The unlabelled transfer set ``args.unlabeled_*`` name, without any image of the training or evaluation set."""
    return load_transfer_set(
        args.unlabeled_dataset,
        args.unlabeled_split,
        samples=args.unlabeled_samples,
        image_column=args.unlabeled_image_column,
        seed=args.seed,
        exclude={"train": train_dataset, "eval": eval_dataset},
    )
