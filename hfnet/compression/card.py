"""The model card of a compressed model: a table comparing teacher and compressed model, the stages, lineage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hfnet.cards import ModelCardInfo, display_name
from hfnet.compression.config import CompressConfig

__all__ = ["compress_card", "comparison_settings"]


def _mb(n: float) -> str:
    return f"{n / 2**20:.2f} MB"


def comparison_settings(
    config: CompressConfig, stages, teacher_metrics: Mapping[str, float], metrics: Mapping[str, float], sizes
) -> dict[str, Any]:
    """The card's table, label -> value: teacher -> compressed for each measure, then the stages and the loss."""
    rows: dict[str, Any] = {}
    if sizes:
        pt, pc = sizes["params_teacher"], sizes["params_compressed"]
        rows["parameters (teacher -> compressed)"] = f"{pt} -> {pc} ({pc / pt:.3f}x)"
        bt, bc = sizes["bytes_teacher"], sizes["bytes_compressed"]
        rows["file size (model.safetensors)"] = f"{_mb(bt)} -> {_mb(bc)} ({bc / bt:.3f}x)"
        for b in (1, 32):
            rows[f"CPU latency, batch {b}"] = (
                f"{sizes[f'latency_ms_teacher_b{b}']:.2f} ms -> {sizes[f'latency_ms_compressed_b{b}']:.2f} ms "
                f"({sizes[f'latency_ratio_b{b}']:.3f}x; one interleaved run, {torch.get_num_threads()} thread(s))"
            )
    if teacher_metrics and metrics:
        ta, ca = teacher_metrics["accuracy"], metrics["accuracy"]
        rows["accuracy (test split)"] = f"{ta:.4f} -> {ca:.4f} ({100 * (ca - ta):+.2f} points)"
    for k, s in enumerate(stages, start=1):
        c = s.counts
        rows[f"stage {k}"] = (
            f"{s.target:.0%} removed: heads/block {c['heads_per_block_before']} -> {c['heads_per_block_after']}, "
            f"neurons/block {c['neurons_per_block_before']} -> {c['neurons_per_block_after']}; "
            f"{s.steps} steps of KD from the {s.teacher} model"
        )
    rows["unit scores"] = config.method
    rows["KD"] = f"T = {config.temperature}, alpha = {config.alpha}"
    if config.augment != "none":
        mix = f", mixup Beta({config.mixup_alpha}, {config.mixup_alpha})" if "mixup" in config.augment else ""
        rows["consistent view (teacher and student)"] = f"{config.augment}{mix}"
    rows["hints (block i -> block i, MSE)"] = f"weight {config.hint_weight}" if config.hint_weight > 0 else "off"
    return rows


def compress_card(
    teacher,
    student,
    config: CompressConfig,
    stages,
    teacher_metrics: Mapping[str, float],
    metrics: Mapping[str, float],
    sizes: Mapping[str, float],
    *,
    dataset_name: str,
    command: str | None,
    settings: Mapping[str, Any] | None,
) -> ModelCardInfo:
    base = teacher.source
    results = {k: v for k, v in metrics.items() if k != "num_samples"}
    if sizes:
        results.update(params=sizes["params_compressed"], latency_ratio_b1=sizes["latency_ratio_b1"])
    if teacher_metrics:
        results["teacher_accuracy"] = teacher_metrics["accuracy"]
    return ModelCardInfo(
        title=f"{type(student.model).__name__} compressed {config.sparsity:.0%} (structured + KD)",
        summary=f"{display_name(base)} with {config.sparsity:.0%} of its prunable block weights removed as whole "
        f"attention heads and MLP neurons ({config.method.upper()} scores) in {len(stages)} stage(s), each recovered "
        f"with knowledge distillation from its teacher on `{dataset_name}`. Accuracy measured on the test split.",
        metrics=results,
        tags=["pruning", "structured-pruning", "knowledge-distillation", "compression"],
        base_model=teacher.hub_id,
        base_model_relation="finetune",
        datasets=[dataset_name],
        eval_dataset=dataset_name,
        eval_split="test",
        parents=[("compressed from (teacher)", base)] if base else [],
        command=command,
        config=dict(settings) if settings is not None else {"compress": config.to_dict()},
        settings=comparison_settings(config, stages, teacher_metrics, metrics, sizes),
        settings_title="Teacher vs compressed",
    )
