"""``hfnet compress`` as its steps: load the teacher -> measure it -> for each stage: structured prune, recover with
KD from its teacher (+ hints) -> compare teacher and compressed model -> finish (evaluate, card, save, push).

Structured pruning is :func:`hfnet.pruning.pipeline.prune_classifier_structured` (whole heads and MLP neurons,
scores summed per unit); the recovery is :class:`hfnet.compression.trainer.CompressionTrainer`. Each stage's model is
the teacher assistant of the next when ``teacher_of_stage="previous"`` (seed 004); NViT / Isomorphic Pruning recover
structured ViTs with KD from the dense model, the default.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from hfnet.compression.config import CompressConfig, stage_sparsities
from hfnet.compression.trainer import CompressionTrainer, TeacherFrozenCallback
from hfnet.errors import HfnetError
from hfnet.finish import Finished, SaveOptions, finish

logger = logging.getLogger(__name__)

__all__ = [
    "Stage",
    "check_supported",
    "compare_models",
    "load_teacher",
    "prune_stage",
    "recover_stage",
    "run_compress",
    "saved_weights_bytes",
]

CNN_REFUSAL = (
    "hfnet compress supports ViTs (transformers ViT / DeiT-style: heads and MLP neurons; timm ViT: MLP neurons); "
    "{name} has no attention heads or MLP neurons to remove. A CNN would need uniform channel pruning of every stage "
    "(the same widths written back through the config / timm model arguments), which hfnet does not do yet: use "
    "`hfnet prune` (unstructured) or `hfnet distill` into a smaller CNN instead"
)


@dataclass
class Stage:
    """One stage: the cumulative target, the structured-pruning outcome, the recovery steps and its teacher."""

    target: float
    counts: dict[str, Any]
    mask_sha256: str
    teacher: str
    steps: int = 0
    teacher_checks: int = 0
    log_history: list[dict[str, Any]] = field(default_factory=list)


def check_supported(classifier) -> None:
    """Refuse a model without ViT blocks hfnet can shrink, saying what a CNN would need."""
    from hfnet.pruning.structured import unit_layout

    try:
        unit_layout(classifier)
    except HfnetError as e:
        raise HfnetError(CNN_REFUSAL.format(name=type(classifier.model).__name__)) from e


def load_teacher(model: str, class_names: list[str]):
    """The fine-tuned dense model: its classes must be the dataset's (else: fine-tune it first), frozen, eval mode."""
    from hfnet.classifier import load_classifier

    teacher = load_classifier(model)
    if list(teacher.class_names or []) != list(class_names):
        shown = ", ".join(map(str, (teacher.class_names or [])[:5]))
        raise HfnetError(
            f"{model} predicts other classes ({teacher.num_classes}: {shown}...) than the dataset "
            f"({len(class_names)}: {', '.join(class_names[:5])}...); compress needs a model fine-tuned for this "
            "dataset: run `hfnet finetune MODEL --dataset D --output-dir DIR` first and compress DIR"
        )
    check_supported(teacher)
    teacher.eval().requires_grad_(False)
    return teacher


def prune_stage(student, train_dataset, config: CompressConfig, remove: float, *, progress: bool = False):
    """Remove ``remove`` of the student's prunable block weights as whole heads / neurons (in place)."""
    from hfnet.pruning.pipeline import prune_classifier_structured

    torch.manual_seed(config.pruning_seed)
    return prune_classifier_structured(
        student, train_dataset, config.pruning_config(remove), progress=progress, latency_repeats=0
    )


def _training_config(training, work: str, config: CompressConfig, max_steps: int, epochs: float):
    """The stage's :class:`DistillationConfig` (TrainingArguments + KD settings) from the job's training options."""
    from hfnet.distillation.config import DistillationConfig

    kwargs = training.training_arguments_kwargs(work)
    kwargs.update(
        num_train_epochs=epochs,
        max_steps=max_steps,
        save_strategy="no",
        eval_strategy="no",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        lr_scheduler_type="linear",
        disable_tqdm=True,
        temperature=config.temperature,
        alpha=config.alpha,
    )
    return DistillationConfig(**kwargs)


def recover_stage(student, teacher, train_dataset, config: CompressConfig, args, *, callbacks=()) -> Any:
    """Train the pruned student with KD from ``teacher`` (+ hints); the teacher is checked frozen every step."""
    from hfnet.training import prepare_datasets

    (train,) = prepare_datasets(student, train_dataset)
    frozen = TeacherFrozenCallback(teacher)
    blocks = [name for name, _ in student.blocks()]
    trainer = CompressionTrainer(
        student,
        teacher,
        args,
        train_dataset=train,
        callbacks=[frozen, *callbacks],
        blocks=blocks,
        hint_weight=config.hint_weight,
        augment=config.augment,
        mixup_alpha=config.mixup_alpha,
    )
    trainer.train()
    frozen.check()
    student.eval()
    return trainer, frozen


def saved_weights_bytes(classifier) -> int:
    """The size on disk of the weight file(s) ``classifier.save_pretrained`` writes (``model.safetensors``)."""
    import tempfile
    from pathlib import Path

    from hfnet.checkpoint import weight_files

    with tempfile.TemporaryDirectory(prefix="hfnet-size-") as tmp:
        folder = classifier.save_pretrained(Path(tmp) / "model")
        return sum(f.stat().st_size for f in weight_files(folder))


def compare_models(teacher, student, *, repeats: int = 10) -> dict[str, float]:
    """Parameters, saved weight-file bytes, and latency at batch 1 and 32 of both (one interleaved run), on the CPU."""
    from hfnet.pruning.structured import count_parameters, measure_latency

    out: dict[str, float] = {
        "params_teacher": count_parameters(teacher.model),
        "params_compressed": count_parameters(student.model),
        "bytes_teacher": saved_weights_bytes(teacher),
        "bytes_compressed": saved_weights_bytes(student),
    }
    devices = teacher.device, student.device
    teacher.to("cpu"), student.to("cpu")
    try:
        for batch in (1, 32):
            x = torch.randn(batch, 3, *teacher.preprocessing.image_size)
            t = measure_latency({"t": teacher.model, "s": student.model}, x, repeats=repeats)
            out[f"latency_ms_teacher_b{batch}"] = 1e3 * t["t"]
            out[f"latency_ms_compressed_b{batch}"] = 1e3 * t["s"]
            out[f"latency_ratio_b{batch}"] = t["s"] / t["t"]
    finally:
        teacher.to(devices[0]), student.to(devices[1])
    return out


def _stage_budget(training, stages: int) -> tuple[int, float]:
    """The training budget is for the whole run: each stage gets an equal share of the steps (or epochs)."""
    if training.max_steps > 0:
        return max(1, training.max_steps // stages), training.epochs
    return -1, training.epochs / stages


def run_stages(teacher, data, config: CompressConfig, training, work: str, *, progress: bool = False) -> tuple:
    """Every stage in turn on a copy of the teacher: prune, recover. Returns ``(student, stages)``."""
    student = copy.deepcopy(teacher).requires_grad_(True)
    stages: list[Stage] = []
    max_steps, epochs = _stage_budget(training, config.stages)
    previous = teacher
    for k, (target, remove) in enumerate(stage_sparsities(config.sparsity, config.stages), start=1):
        stage_teacher = teacher if config.teacher_of_stage == "dense" else previous
        outcome = prune_stage(student, data["train"], config, remove, progress=progress)
        stage = Stage(target, outcome.counts, outcome.mask_sha256, "dense" if stage_teacher is teacher else "previous")
        if training.trains:
            args = _training_config(training, f"{work}/stage{k}", config, max_steps, epochs)
            trainer, frozen = recover_stage(student, stage_teacher, data["train"], config, args)
            stage.steps, stage.teacher_checks = int(trainer.state.global_step), frozen.steps_checked
            stage.log_history = list(trainer.state.log_history)
        logger.info("stage %d: %.0f%% removed, %d steps", k, 100 * target, stage.steps)
        stages.append(stage)
        if config.teacher_of_stage == "previous" and k < config.stages:  # the next stage's teacher assistant
            previous = copy.deepcopy(student).eval().requires_grad_(False)
    return student, stages


def run_compress(
    model: str,
    data,
    config: CompressConfig,
    training,
    save: SaveOptions,
    *,
    dataset_name: str,
    command: str | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> tuple[Finished, dict[str, Any]]:
    """Compress the fine-tuned classifier ``model`` for ``data`` (train/test DatasetDict); save through :func:`finish`.

    ``training`` is a :class:`hfnet.options.TrainingOptions`: the budget of the whole run, split equally between the
    stages. ``settings`` (``hfnet.options.config_dict(*options)``) is recorded in the card. Returns the finished tail
    and a summary (teacher and compressed accuracy, sizes, latency ratios, stages).
    """
    import tempfile

    from accelerate import PartialState

    from hfnet.data import class_names
    from hfnet.evaluation import evaluate_classifier

    if "train" not in data or "test" not in data:
        raise HfnetError("the dataset needs 'train' and 'test' splits")
    save.check()
    state = PartialState(cpu=training.use_cpu)
    teacher = load_teacher(model, class_names(data))
    teacher_metrics = evaluate_classifier(teacher, data["test"], progress=False) if state.is_main_process else {}
    with tempfile.TemporaryDirectory(prefix="hfnet-compress-") as work:
        student, stages = run_stages(
            teacher, data, config, training, work, progress=progress and state.is_main_process
        )
    sizes = compare_models(teacher, student) if state.is_main_process else {}
    from hfnet.compression.card import compress_card

    def card(metrics):
        return compress_card(
            teacher, student, config, stages, teacher_metrics, metrics, sizes,
            dataset_name=dataset_name, command=command, settings=settings,
        )  # fmt: skip

    history = [row for s in stages for row in s.log_history]
    done = finish(student, save, card, eval_dataset=data["test"], log_history=history)
    summary = _summary(state, teacher_metrics, done.metrics, sizes, stages)
    return done, summary


def _summary(state, teacher_metrics, metrics, sizes, stages: list[Stage]) -> dict[str, Any]:
    out: dict[str, Any] = {"world_size": state.num_processes}
    if teacher_metrics:
        out["accuracy_teacher"] = teacher_metrics["accuracy"]
    if metrics:
        out["accuracy"] = metrics["accuracy"]
    out.update(sizes)
    out["stages"] = [
        {"target": s.target, "teacher": s.teacher, "steps": s.steps, "mask_sha256": s.mask_sha256, **s.counts}
        for s in stages
    ]
    return out
