"""The whole job, shared by ``recipes/prune_vit.py``, ``hfnet prune`` and the demo: score -> mask -> fine-tune with
the mask fixed -> evaluate -> save a plain Hub checkpoint with a model card."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from torch import Tensor

from hfnet.cards import TRAINING_CARD_KEYS, ModelCardInfo, display_name
from hfnet.data import class_names, collate_fn, is_transformed
from hfnet.errors import HfnetError
from hfnet.finish import SaveOptions, finish
from hfnet.preprocessing import with_model_transform
from hfnet.pruning.apply import MaskCallback, apply_masks, sparsity_report
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.masks import make_masks, mask_hash
from hfnet.pruning.scores import compute_scores, prunable_parameters
from hfnet.pruning.structured import (
    build_pruned_model,
    count_parameters,
    feasible_unit_counts,
    measure_latency,
    report,
    structured_masks,
    swap,
    unit_layout,
    unit_scores,
)
from hfnet.training import train_classifier

logger = logging.getLogger(__name__)

__all__ = [
    "PruningOutcome",
    "StructuredOutcome",
    "calibration_batches",
    "fit_head",
    "prune_classifier",
    "prune_classifier_structured",
    "UNTRAINED_HEAD_NOTE",
    "check_head",
    "run_pruning",
]


def calibration_batches(
    classifier, dataset, *, num_samples: int, batch_size: int, seed: int = 0
) -> list[dict[str, Tensor]]:
    """A seeded random subset of ``num_samples`` images, preprocessed for the classifier, in fixed-order batches.

    Every process of a distributed run builds the same list (the scorers then take every N-th batch).
    """
    if batch_size < 1:
        raise HfnetError(f"calibration batch size must be >= 1, got {batch_size}")
    if num_samples < batch_size:
        raise HfnetError(
            f"{num_samples} calibration samples are fewer than one batch ({batch_size}): "
            "raise --calibration-samples or lower the calibration batch size"
        )
    if len(dataset) < batch_size:
        raise HfnetError(
            f"the calibration split has {len(dataset)} images, fewer than one batch ({batch_size}); "
            "use a larger dataset or a smaller calibration batch size"
        )
    if num_samples > len(dataset):
        logger.warning("only %d calibration images available (asked for %d)", len(dataset), num_samples)
        num_samples = len(dataset)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:num_samples].tolist()
    subset = dataset.select(sorted(order)) if hasattr(dataset, "select") else [dataset[i] for i in sorted(order)]
    if not is_transformed(subset):
        subset = with_model_transform(subset, classifier.preprocessing)
    examples = [subset[i] for i in range(len(subset))]
    return [collate_fn(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]


def fit_head(classifier, class_names: list[str]) -> bool:
    """Replace the classifier head when its classes are not ``class_names``; returns whether it was replaced."""
    if classifier.class_names == list(class_names) and classifier.num_classes == len(class_names):
        return False
    classifier.replace_head(list(class_names))
    return True


@dataclass
class PruningOutcome:
    """What pruning produced: the keep-masks, their sparsity and hash, and how long scoring took."""

    masks: dict[str, Tensor]
    sparsity: dict[str, float]
    mask_sha256: str
    scoring_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)


def _config_scores(classifier, calibration_dataset, config: PruningConfig, progress: bool) -> tuple[dict, float]:
    """The per-weight scores of ``config.method`` (calibration batches drawn when it needs data) and their time."""
    batches = None
    if config.needs_data:
        if calibration_dataset is None:
            raise HfnetError(f"method {config.method!r} needs calibration data")
        batches = calibration_batches(
            classifier,
            calibration_dataset,
            num_samples=config.calibration_samples,
            batch_size=config.calibration_batch_size,
            seed=config.pruning_seed,
        )
    t0 = time.perf_counter()
    scores = compute_scores(
        config.method,
        classifier,
        batches,
        seed=config.pruning_seed,
        token_pooling=config.token_pooling,
        refer_statistics=config.refer_statistics,
        progress=progress,
    )
    return scores, time.perf_counter() - t0


def prune_classifier(
    classifier, calibration_dataset, config: PruningConfig, *, progress: bool = False
) -> PruningOutcome:
    """Score the classifier's prunable weights, build the masks and zero the pruned weights in place."""
    prunable_parameters(classifier)  # fail early on a model without prunable layers
    scores, seconds = _config_scores(classifier, calibration_dataset, config, progress)
    masks = make_masks(scores, config.sparsity, config.scope)
    apply_masks(classifier, masks)
    report = sparsity_report(classifier, masks)
    return PruningOutcome(masks, report.to_dict(), mask_hash(masks), seconds)


def _finish(classifier, data, summary, outcome, card, save: SaveOptions) -> dict[str, Any]:
    """The end of both branches: the shared tail (evaluate, card, save, push), its results into ``summary``."""
    done = finish(classifier, save, card, eval_dataset=data["test"], log_history=outcome.log_history)
    outcome.metrics = done.metrics
    summary.update(done.to_dict())
    return summary


UNTRAINED_HEAD_NOTE = (
    "The classification head was replaced for the dataset's classes and not trained (no fine-tuning was asked for, "
    "allow_untrained_head): its predictions are random until it is fine-tuned."
)


def check_head(replaced: bool, training_args, allow_untrained_head: bool) -> None:
    """Refuse to save a new, untrained head unless asked for (``--allow-untrained-head``)."""
    if replaced and training_args is None and not allow_untrained_head:
        raise HfnetError(
            "the dataset's classes are not the model's, so its head is replaced, and no training is asked for: the "
            "saved head would be untrained; train it (--epochs N or --max-steps N) or pass --allow-untrained-head"
        )


@dataclass
class CardRun:
    """What a pruning card says about the run, beside the outcome: data, steps, how to reproduce it."""

    dataset_name: str
    steps: int = 0
    training_args: Any = None
    command: str | None = None
    record: dict[str, Any] | None = None  # the job's options (hfnet.options.config_dict)
    untrained_head: bool = False

    def note(self, details: str) -> str:
        """``details`` with the untrained-head warning when the head was not trained."""
        return details + ("\n\n**Untrained head.** " + UNTRAINED_HEAD_NOTE if self.untrained_head else "")


def _lineage(classifier, config: PruningConfig, run: CardRun) -> dict[str, Any]:
    """The card fields both pruning branches share: parent, dataset, evaluation split, how to reproduce.

    ``record`` is the job's option dict (:func:`hfnet.options.config_dict`, what ``--config FILE`` reads back); without
    it (the Python API) the card records the pruning and training settings.
    """
    base, dataset_name = classifier.source, run.dataset_name
    reproduce: dict[str, Any] = {"model": base, "dataset": dataset_name, "pruning": config.to_dict()}
    if run.training_args is not None:
        reproduce["training"] = {k: getattr(run.training_args, k, None) for k in TRAINING_CARD_KEYS}
    if run.record is not None:
        reproduce = dict(run.record)
    return dict(
        base_model=classifier.hub_id,
        base_model_relation="finetune",
        datasets=[dataset_name],
        eval_dataset=dataset_name,
        eval_split="test",
        parents=[("pruned from", base)] if base else [],
        command=run.command,
        config=reproduce,
    )


def _model_card(
    classifier,
    config: PruningConfig,
    outcome: PruningOutcome,
    metrics: dict[str, float],
    run: CardRun,
) -> ModelCardInfo:
    dataset_name, steps = run.dataset_name, run.steps
    s = outcome.sparsity
    base = classifier.source
    settings = {
        "method": config.method,
        "sparsity (prunable weights)": f"{s['sparsity_prunable']:.4f} ({s['pruned_weights']} of {s['prunable_weights']})",
        "sparsity (all weights)": f"{s['sparsity_all_weights']:.4f} (of {s['all_weights']})",
        "scope": config.scope,
        "calibration samples": config.calibration_samples,
        "token pooling (ReFer/AFR)": config.token_pooling,
        "ReFer statistics": config.refer_statistics,
        "fine-tuning steps (mask fixed)": steps,
        "mask sha256": outcome.mask_sha256[:16],
    }
    if run.untrained_head:
        settings["head"] = "replaced, untrained"
    details = (
        "Single-shot unstructured pruning before fine-tuning (SNIP / ReFer / AFR, seed 002). The pruned weights are "
        "exact zeros in `model.safetensors`; the architecture is unchanged, so it loads in plain transformers / timm."
    )
    metrics = {k: v for k, v in metrics.items() if k != "num_samples"}
    metrics.update(sparsity_prunable=s["sparsity_prunable"], sparsity_all_weights=s["sparsity_all_weights"])
    return ModelCardInfo(
        title=f"{type(classifier.model).__name__} pruned with {config.method.upper()} at {config.sparsity:.0%}",
        summary=f"{display_name(base)} pruned to {s['sparsity_prunable']:.1%} sparsity of its prunable weights "
        f"({s['sparsity_all_weights']:.1%} of all weights) with {config.method.upper()} on `{dataset_name}`, then "
        f"fine-tuned for {steps} steps with the mask fixed. Accuracy measured on the `{dataset_name}` test split.",
        metrics=metrics,
        tags=["pruning", f"pruning-{config.method}", "sparse"],
        **_lineage(classifier, config, run),
        settings=settings,
        settings_title="Pruning",
        details=run.note(details),
    )


def run_pruning(
    classifier,
    data,
    config: PruningConfig,
    training_args=None,
    *,
    save_dir: str | Path | None,
    dataset_name: str,
    progress: bool = True,
    overwrite: bool = False,
    push_to_hub: bool | None = None,
    hub_model_id: str | None = None,
    private: bool | None = None,
    command: str | None = None,
    allow_untrained_head: bool = True,
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Prune ``classifier`` for ``data`` (a DatasetDict with train/test), fine-tune with the mask fixed, save.

    ``training_args`` (``TrainingArguments``) or ``None`` for no fine-tuning. Only the main process evaluates and
    saves. Returns a summary (world size, mask hash, sparsity, accuracy, timings).

    Args:
        overwrite: write into an existing ``save_dir`` that holds other files (only hfnet's files are replaced).
        push_to_hub / hub_model_id / private: upload the saved folder to the Hub repo ``hub_model_id`` (default:
            ``training_args.push_to_hub`` / ``hub_model_id`` / ``hub_private_repo``); a failed push keeps the local
            result and raises a one-line ``HfnetError``. The Trainer itself never pushes.
        command: the command line that reproduces this run, shown in the model card.
        allow_untrained_head: save even when the head is new (the dataset's classes are not the model's) and no
            training is asked for; the card then says so. ``False`` refuses such a run (``hfnet prune`` refuses it
            unless ``--allow-untrained-head``).
        record: the job's options as :func:`hfnet.options.config_dict` gives them, recorded in the card as its
            ``config`` (what ``--config FILE`` reads back).
    """
    if "train" not in data or "test" not in data:
        raise HfnetError("the dataset needs 'train' and 'test' splits")
    save = SaveOptions(
        str(save_dir) if save_dir is not None else None,
        overwrite=overwrite,
        push_to_hub=bool(getattr(training_args, "push_to_hub", False)) if push_to_hub is None else push_to_hub,
        hub_model_id=hub_model_id or getattr(training_args, "hub_model_id", None),
        private=bool(getattr(training_args, "hub_private_repo", False)) if private is None else private,
    )
    save.check()  # refuse before hours of work, not after
    run = CardRun(dataset_name, training_args=training_args, command=command, record=record)
    branch = _run_structured if config.structured else _run_unstructured
    return branch(classifier, data, config, training_args, progress, save, run, allow_untrained_head)


def _run_unstructured(
    classifier,
    data,
    config: PruningConfig,
    training_args,
    progress: bool,
    save: SaveOptions,
    run: CardRun,
    allow_untrained_head: bool,
) -> dict[str, Any]:
    """Score, mask (weights zeroed, shapes kept), fine-tune with the mask held by :class:`MaskCallback`, finish."""
    state = PartialState()
    # a seeded head: every process (and every rerun) scores the same model
    torch.manual_seed(config.pruning_seed)
    prunable_parameters(classifier)  # a model without prunable layers fails first
    replaced = fit_head(classifier, class_names(data))
    check_head(replaced, training_args, allow_untrained_head)
    outcome = prune_classifier(classifier, data["train"], config, progress=progress and state.is_main_process)
    steps = 0
    if training_args is not None:
        callback = MaskCallback(classifier, outcome.masks)
        trainer = train_classifier(
            classifier,
            data["train"],
            output_dir=training_args.output_dir,
            args=training_args,
            callbacks=[callback],
        )
        steps = int(trainer.state.global_step)
        outcome.log_history = list(trainer.state.log_history)
        callback.masked.zero_()
    # the masked weights must be exact zeros whatever happened during training
    params = dict(classifier.model.named_parameters())
    leaked = [n for n, m in outcome.masks.items() if bool((params[n].detach()[~m.to(params[n].device)] != 0).any())]
    if leaked:
        raise RuntimeError(f"pruned weights became non-zero in {leaked[:3]}")
    summary: dict[str, Any] = {
        "world_size": state.num_processes,
        "method": config.method,
        "sparsity": config.sparsity,
        "mask_sha256": outcome.mask_sha256,
        "scoring_seconds": round(outcome.scoring_seconds, 3),
        "head_replaced": replaced,
        "train_steps": steps,
        **outcome.sparsity,
    }
    run = dataclasses.replace(run, steps=steps, untrained_head=replaced and not steps)
    card = functools.partial(_model_card, classifier, config, outcome, run=run)
    return _finish(classifier, data, summary, outcome, card, save)


# ====================================================================== structured branch (config.structured)
# Whole heads and MLP neurons are removed and the model is rebuilt smaller (hfnet.pruning.structured); it is then
# fine-tuned like any dense model (no mask, no callback) and saved through the same save_pretrained path.


@dataclass
class StructuredOutcome:
    """What structured pruning produced: unit keep-masks, their hash, sizes before/after and latency."""

    keep: dict[str, Tensor]
    mask_sha256: str
    scoring_seconds: float
    counts: dict[str, Any]
    latency: dict[str, float] = field(default_factory=dict)
    heads_note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)


def prune_classifier_structured(
    classifier,
    calibration_dataset,
    config: PruningConfig,
    *,
    progress: bool = False,
    latency_repeats: int = 10,
) -> StructuredOutcome:
    """Score, choose the heads / neurons to remove, and replace ``classifier.model`` by the smaller model.

    The budget and the layout are checked before any scoring, so a sparsity that would leave a block without a head
    or a neuron fails at once. ``latency_repeats > 0`` times the dense and the pruned model (batch 1, interleaved,
    median) on the classifier's device before the swap.
    """

    layout = unit_layout(classifier)
    feasible_unit_counts(
        layout, config.sparsity, config.head_fraction
    )  # fail before scoring when the budget cannot be met
    scores, seconds = _config_scores(classifier, calibration_dataset, config, progress)
    keep = structured_masks(unit_scores(scores, layout), layout, config.sparsity, config.head_fraction)
    before = count_parameters(classifier.model)
    new = build_pruned_model(classifier, keep, layout)
    latency = {}
    if latency_repeats > 0:
        size = classifier.preprocessing.image_size
        x = torch.randn(1, 3, *size, device=classifier.device, dtype=next(new.parameters()).dtype)
        t = measure_latency({"dense": classifier.model, "pruned": new}, x, repeats=latency_repeats)
        latency = {
            "latency_ms_dense_b1": 1e3 * t["dense"],
            "latency_ms_pruned_b1": 1e3 * t["pruned"],
            "latency_ratio_b1": t["pruned"] / t["dense"],
        }
    swap(classifier, new)
    counts = report(layout, keep, before, count_parameters(new)).to_dict()
    if layout.heads_note and not layout.heads_removable:
        logger.warning("structured pruning keeps every head: %s", layout.heads_note)
    return StructuredOutcome(keep, mask_hash(keep), seconds, counts, latency, layout.heads_note)


def _run_structured(
    classifier,
    data,
    config: PruningConfig,
    training_args,
    progress: bool,
    save: SaveOptions,
    run: CardRun,
    allow_untrained_head: bool,
) -> dict[str, Any]:
    """:func:`run_pruning` with ``config.structured``: remove units, fine-tune the smaller dense model, evaluate, save.

    ``save`` holds the output-folder and push settings, already checked by :func:`run_pruning`.
    """
    state = PartialState()
    torch.manual_seed(config.pruning_seed)
    replaced = fit_head(classifier, class_names(data))
    check_head(replaced, training_args, allow_untrained_head)
    outcome = prune_classifier_structured(
        classifier,
        data["train"],
        config,
        progress=progress and state.is_main_process,
        latency_repeats=10 if state.is_main_process else 0,
    )
    steps = 0
    if training_args is not None:
        trainer = train_classifier(classifier, data["train"], output_dir=training_args.output_dir, args=training_args)
        steps = int(trainer.state.global_step)
        outcome.log_history = list(trainer.state.log_history)
    summary: dict[str, Any] = {
        "world_size": state.num_processes,
        "method": config.method,
        "structured": True,
        "sparsity": config.sparsity,
        "head_fraction": config.head_fraction,
        "mask_sha256": outcome.mask_sha256,
        "scoring_seconds": round(outcome.scoring_seconds, 3),
        "head_replaced": replaced,
        "train_steps": steps,
        **outcome.counts,
        **outcome.latency,
    }
    if outcome.heads_note:
        summary["heads_note"] = outcome.heads_note
    run = dataclasses.replace(run, steps=steps, untrained_head=replaced and not steps)
    card = functools.partial(_structured_model_card, classifier, config, outcome, run=run)
    return _finish(classifier, data, summary, outcome, card, save)


def _structured_model_card(
    classifier,
    config: PruningConfig,
    outcome: StructuredOutcome,
    metrics: dict[str, float],
    run: CardRun,
) -> ModelCardInfo:
    dataset_name, steps = run.dataset_name, run.steps
    c, lat = outcome.counts, outcome.latency
    base = classifier.source
    rows = {
        "method": f"{config.method} (scores summed per head / MLP neuron)",
        "asked sparsity (prunable block weights)": config.sparsity,
        "removed prunable weights": f"{c['pruned_weights']} of {c['prunable_weights']} ({c['sparsity_prunable']:.4f})",
        "attention heads per block": f"{c['heads_per_block_before']} -> {c['heads_per_block_after']}",
        "MLP neurons per block": f"{c['neurons_per_block_before']} -> {c['neurons_per_block_after']}",
        "parameters": f"{c['params_before']} -> {c['params_after']} ({c['params_ratio']:.3f}x)",
        "head split": f"fixed: head_fraction = {config.head_fraction}"
        if config.head_fraction is not None
        else "chosen from the scores (least total score removed)",
        "calibration samples": config.calibration_samples,
        "fine-tuning steps (dense, no mask)": steps,
        "unit mask sha256": outcome.mask_sha256[:16],
    }
    if lat:
        rows["latency, batch 1 (dense -> pruned)"] = (
            f"{lat['latency_ms_dense_b1']:.2f} ms -> {lat['latency_ms_pruned_b1']:.2f} ms "
            f"({lat['latency_ratio_b1']:.3f}x; {classifier.device.type}, {torch.get_num_threads()} thread(s), "
            "median of 10 interleaved runs)"
        )
    if outcome.heads_note:
        rows["heads"] = outcome.heads_note
    if run.untrained_head:
        rows["head"] = "replaced, untrained"
    details = (
        "Structured single-shot pruning before fine-tuning: per-weight scores (SNIP / ReFer / AFR, seed 002) summed "
        "over the weights each attention head and MLP neuron owns; the same number of units removed in every block; "
        "the weights are physically removed, so the config describes an ordinary, smaller model that loads in plain "
        "transformers / timm."
    )
    metrics = {k: v for k, v in metrics.items() if k != "num_samples"}
    metrics.update(params_before=c["params_before"], params_after=c["params_after"])
    if lat:
        metrics["latency_ratio_b1"] = lat["latency_ratio_b1"]
    return ModelCardInfo(
        title=f"{type(classifier.model).__name__} with {config.sparsity:.0%} of its block weights removed "
        f"({config.method.upper()}, structured)",
        summary=f"{display_name(base)} with {c['sparsity_prunable']:.1%} of its prunable block weights removed as whole "
        f"attention heads ({c['heads_per_block_before']} -> {c['heads_per_block_after']} per block) and MLP neurons "
        f"({c['neurons_per_block_before']} -> {c['neurons_per_block_after']} per block), chosen by "
        f"{config.method.upper()} on `{dataset_name}`: {c['params_before']} -> {c['params_after']} parameters; then "
        f"fine-tuned for {steps} steps. Accuracy measured on the `{dataset_name}` test split.",
        metrics=metrics,
        tags=["pruning", f"pruning-{config.method}", "structured-pruning"],
        **_lineage(classifier, config, run),
        settings=rows,
        settings_title="Pruning",
        details=run.note(details),
    )
