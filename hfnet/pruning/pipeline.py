"""The whole job, shared by ``recipes/prune_vit.py``, ``hfnet prune`` and the demo: score -> mask -> fine-tune with
the mask fixed -> evaluate -> save a plain Hub checkpoint with a model card."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.pruning.apply import MaskCallback, apply_masks, sparsity_report
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.masks import make_masks, mask_hash
from hfnet.pruning.scores import compute_scores, prunable_parameters

logger = logging.getLogger(__name__)

__all__ = ["PruningOutcome", "calibration_batches", "fit_head", "prune_classifier", "run_pruning"]


def calibration_batches(
    classifier, dataset, *, num_samples: int, batch_size: int, seed: int = 0
) -> list[dict[str, Tensor]]:
    """A seeded random subset of ``num_samples`` images, preprocessed for the classifier, in fixed-order batches.

    Every process of a distributed run builds the same list (the scorers then take every N-th batch).
    """
    from hfnet.data import collate_fn, is_transformed, with_model_transform

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


def prune_classifier(
    classifier, calibration_dataset, config: PruningConfig, *, progress: bool = False
) -> PruningOutcome:
    """Score the classifier's prunable weights, build the masks and zero the pruned weights in place."""
    prunable_parameters(classifier)  # fail early on a model without prunable layers
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
    seconds = time.perf_counter() - t0
    masks = make_masks(scores, config.sparsity, config.scope)
    apply_masks(classifier, masks)
    report = sparsity_report(classifier, masks)
    return PruningOutcome(masks, report.to_dict(), mask_hash(masks), seconds)


_TRAINING_KEYS = (
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "per_device_train_batch_size",
    "weight_decay",
    "seed",
)


def _model_card(
    classifier,
    config: PruningConfig,
    outcome: PruningOutcome,
    *,
    dataset_name: str,
    steps: int,
    training_args=None,
    command: str | None = None,
):
    from hfnet.cards import display_name
    from hfnet.hub import ModelCardInfo

    s = outcome.sparsity
    base = classifier.source
    settings = "\n".join(
        f"| {k} | {v} |"
        for k, v in {
            "method": config.method,
            "sparsity (prunable weights)": f"{s['sparsity_prunable']:.4f} ({s['pruned_weights']} of {s['prunable_weights']})",
            "sparsity (all weights)": f"{s['sparsity_all_weights']:.4f} (of {s['all_weights']})",
            "scope": config.scope,
            "calibration samples": config.calibration_samples,
            "token pooling (ReFer/AFR)": config.token_pooling,
            "ReFer statistics": config.refer_statistics,
            "fine-tuning steps (mask fixed)": steps,
            "mask sha256": outcome.mask_sha256[:16],
        }.items()
    )
    details = (
        "## Pruning\n\nSingle-shot unstructured pruning before fine-tuning (SNIP / ReFer / AFR, seed 002). The pruned "
        "weights are exact zeros in `model.safetensors`; the architecture is unchanged, so it loads in plain "
        "transformers / timm.\n\n| setting | value |\n|---|---|\n" + settings + "\n"
    )
    metrics = {k: v for k, v in outcome.metrics.items() if k != "num_samples"}
    metrics.update(sparsity_prunable=s["sparsity_prunable"], sparsity_all_weights=s["sparsity_all_weights"])
    reproduce: dict[str, Any] = {"model": base, "dataset": dataset_name, "pruning": config.to_dict()}
    if training_args is not None:
        reproduce["training"] = {k: getattr(training_args, k, None) for k in _TRAINING_KEYS}
    return ModelCardInfo(
        title=f"{type(classifier.model).__name__} pruned with {config.method.upper()} at {config.sparsity:.0%}",
        summary=f"{display_name(base)} pruned to {s['sparsity_prunable']:.1%} sparsity of its prunable weights "
        f"({s['sparsity_all_weights']:.1%} of all weights) with {config.method.upper()} on `{dataset_name}`, then "
        f"fine-tuned for {steps} steps with the mask fixed. Accuracy measured on the `{dataset_name}` test split.",
        base_model=classifier.hub_id,
        base_model_relation="finetune",
        datasets=[dataset_name],
        metrics=metrics,
        eval_dataset=dataset_name,
        eval_split="test",
        parents=[("pruned from", base)] if base else [],
        command=command,
        config=reproduce,
        tags=["pruning", f"pruning-{config.method}", "sparse"],
        details=details,
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
    """
    from accelerate import PartialState

    from hfnet._io import check_output_dir
    from hfnet.data import class_names
    from hfnet.evaluation import evaluate_classifier

    if "train" not in data or "test" not in data:
        raise HfnetError("the dataset needs 'train' and 'test' splits")
    if push_to_hub is None:
        push_to_hub = bool(getattr(training_args, "push_to_hub", False))
    hub_model_id = hub_model_id or getattr(training_args, "hub_model_id", None)
    if private is None:
        private = bool(getattr(training_args, "hub_private_repo", False))
    if push_to_hub and save_dir is None:
        raise HfnetError("push_to_hub needs a save_dir: the checkpoint is saved locally first, then pushed")
    if push_to_hub and not hub_model_id:
        raise HfnetError("push_to_hub needs hub_model_id (OWNER/NAME)")
    if save_dir is not None:
        check_output_dir(save_dir, overwrite=overwrite)  # refuse before hours of work, not after
    state = PartialState()
    # a seeded head: every process (and every rerun) scores the same model
    torch.manual_seed(config.pruning_seed)
    replaced = fit_head(classifier, class_names(data))
    outcome = prune_classifier(classifier, data["train"], config, progress=progress and state.is_main_process)
    steps = 0
    if training_args is not None:
        from hfnet.training import train_classifier

        callback = MaskCallback(classifier, outcome.masks)
        trainer = train_classifier(
            classifier,
            data["train"],
            output_dir=training_args.output_dir,
            args=training_args,
            callbacks=[callback],
        )
        steps = int(trainer.state.global_step)
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
    if state.is_main_process:
        outcome.metrics = evaluate_classifier(classifier, data["test"], progress=False)
        summary.update(outcome.metrics)
        if save_dir is not None:
            from hfnet.hub import push_result

            card = _model_card(
                classifier,
                config,
                outcome,
                dataset_name=dataset_name,
                steps=steps,
                training_args=training_args,
                command=command,
            )
            saved = classifier.save_pretrained(save_dir, card=card, overwrite=overwrite)
            summary["output_dir"] = str(saved)
            url = push_result(saved, push=push_to_hub, hub_model_id=hub_model_id, private=private)
            if url:
                summary["hub_url"] = url
    state.wait_for_everyone()
    return summary
