"""The recovery step of a stage: KD from a frozen teacher plus an optional hint loss on block outputs.

A structurally pruned ViT keeps its hidden width, so block ``i`` of the student can match block ``i`` of the teacher
directly (FitNets' hint loss, Romero et al. 2014, https://arxiv.org/abs/1412.6550, without the regressor).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from transformers import TrainerCallback

from hfnet.compression.augment import consistent_view, view_hard_loss
from hfnet.distillation.hint import capture_outputs
from hfnet.distillation.losses import hint_loss, soft_loss
from hfnet.distillation.trainer import DistillationTrainer, convert_pixels

__all__ = ["CompressionTrainer", "TeacherFrozenCallback", "block_hint_loss", "fingerprint"]


def block_hint_loss(student_blocks: dict[str, Tensor], teacher_blocks: dict[str, Tensor]) -> Tensor:
    """Mean over the named blocks of ``MSE(student block output, teacher block output)``; 0 when they are equal."""
    if set(student_blocks) != set(teacher_blocks) or not student_blocks:
        raise ValueError(f"student and teacher blocks differ: {sorted(student_blocks)} vs {sorted(teacher_blocks)}")
    return torch.stack([hint_loss(student_blocks[n], teacher_blocks[n]) for n in sorted(student_blocks)]).mean()


def fingerprint(model: nn.Module) -> list[float]:
    """One float64 sum per parameter: changes when any weight changes (cheap enough to check every step)."""
    return [float(p.detach().double().sum()) for p in model.parameters()]


class TeacherFrozenCallback(TrainerCallback):
    """Fails the run the moment the teacher is in training mode, has a trainable weight, or its weights moved.

    Checked at the start and end of every optimizer step; ``steps_checked`` counts the checks that passed.
    """

    def __init__(self, teacher: nn.Module) -> None:
        self.teacher = teacher
        self.reference = fingerprint(teacher)
        self.steps_checked = 0

    def check(self) -> None:
        training = [n for n, m in self.teacher.named_modules() if m.training]
        if training:
            raise RuntimeError(f"the teacher is in training mode ({training[0] or 'root'})")
        if any(p.requires_grad for p in self.teacher.parameters()):
            raise RuntimeError("a teacher weight requires grad")
        if fingerprint(self.teacher) != self.reference:
            raise RuntimeError("the teacher's weights changed during training")
        self.steps_checked += 1

    def on_step_begin(self, args, state, control, **kwargs: Any):
        self.check()

    def on_step_end(self, args, state, control, **kwargs: Any):
        self.check()


class CompressionTrainer(DistillationTrainer):
    """:class:`DistillationTrainer` (KD from the frozen teacher) plus ``hint_weight`` times :func:`block_hint_loss`,
    on a consistent view of each training batch.

    ``blocks`` are the block names, the same in student and teacher (same architecture, fewer heads / neurons).
    ``augment`` (:data:`hfnet.compression.augment.AUGMENTS`) makes one random view of each training batch that the
    student and the teacher both see (function matching, Beyer et al. 2022); evaluation sees the batch as it is.
    With ``alpha = 0`` and no hints the teacher is not run (label training). Logs ``loss_hard`` and ``loss_soft``,
    and ``loss_hint`` with hints.
    """

    def __init__(
        self,
        *args: Any,
        blocks: list[str] | None = None,
        hint_weight: float = 0.0,
        augment: str = "none",
        mixup_alpha: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.merit_delta > 0 or self.args.cache_teacher_logits:
            raise ValueError("CompressionTrainer runs the teacher on every view: no merit weights, no cached logits")
        self.blocks = list(blocks or []) if hint_weight > 0 else []
        self.hint_weight = float(hint_weight)
        self.augment = augment
        self.mixup_alpha = float(mixup_alpha)
        # one stream per process: the views differ between processes as their batches do, and repeat with the seed
        self.view_rng = np.random.default_rng([self.args.seed, self.accelerator.process_index])

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        if not model.training:  # evaluation: the student alone, on the batch as it is
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.augment != "none" and "teacher_pixel_values" in inputs:
            raise ValueError("a consistent view needs the teacher to see the student's pixels (one preprocessing)")
        labels = inputs["labels"]
        view = consistent_view(inputs["pixel_values"], self.augment, self.view_rng, self.mixup_alpha)
        student = getattr(model, "module", model)  # hooks go on the unwrapped modules (DDP shares them)
        with capture_outputs(student, self.blocks, "student") as s_blocks:
            outputs = model(pixel_values=view.pixel_values)
        logits = outputs["logits"]
        hard = view_hard_loss(logits, labels, view)
        metrics = self._metrics["train"]
        metrics["loss_hard"].append(hard.mean().detach())
        alpha = self.args.alpha
        if alpha == 0 and not self.blocks:  # labels only: the teacher has nothing to add
            loss = hard.mean()
            return (loss, outputs) if return_outputs else loss
        teacher_pixels = convert_pixels(view.pixel_values, self.student_preprocessing, self.teacher_preprocessing)
        with capture_outputs(self.teacher, self.blocks, "teacher") as t_blocks, torch.no_grad():
            teacher_logits = self.teacher(pixel_values=teacher_pixels).logits
        soft = soft_loss(logits, teacher_logits, self.args.temperature)
        metrics["loss_soft"].append(soft.mean().detach())
        loss = ((1 - alpha) * hard + alpha * soft).mean()
        if self.blocks:
            hint = block_hint_loss(dict(s_blocks), {k: v.detach() for k, v in t_blocks.items()})
            metrics["loss_hint"].append(hint.detach())
            loss = loss + self.hint_weight * hint
        return (loss, outputs) if return_outputs else loss
