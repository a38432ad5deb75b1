"""The recovery step of a stage: KD from a frozen teacher plus an optional hint loss on block outputs.

A structurally pruned ViT keeps its hidden width, so block ``i`` of the student can match block ``i`` of the teacher
directly (FitNets' hint loss, Romero et al. 2014, https://arxiv.org/abs/1412.6550, without the regressor).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from transformers import TrainerCallback

from hfnet.distillation.hint import capture_outputs
from hfnet.distillation.losses import hint_loss, kd_loss_terms
from hfnet.distillation.trainer import DistillationTrainer

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
    """:class:`DistillationTrainer` (KD from the frozen teacher) plus ``hint_weight`` times :func:`block_hint_loss`.

    ``blocks`` are the block names, the same in student and teacher (same architecture, fewer heads / neurons).
    Logs ``loss_hint`` besides ``loss_hard`` and ``loss_soft``.
    """

    def __init__(self, *args: Any, blocks: list[str] | None = None, hint_weight: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blocks = list(blocks or [])
        self.hint_weight = float(hint_weight)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        if not model.training or self.hint_weight == 0 or not self.blocks:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        student = getattr(model, "module", model)  # hooks go on the unwrapped modules (DDP shares them)
        with capture_outputs(student, self.blocks, "student") as s_blocks:
            outputs = model(pixel_values=inputs["pixel_values"])
        with capture_outputs(self.teacher, self.blocks, "teacher") as t_blocks, torch.no_grad():
            teacher_logits = self.teacher(pixel_values=self._teacher_pixels(inputs)).logits
        terms = kd_loss_terms(
            outputs["logits"], teacher_logits, inputs["labels"], self.args.temperature, self.args.alpha
        )
        hint = block_hint_loss(dict(s_blocks), {k: v.detach() for k, v in t_blocks.items()})
        metrics = self._metrics["train"]
        metrics["loss_hard"].append(terms["hard"])
        metrics["loss_soft"].append(terms["soft"])
        metrics["loss_hint"].append(hint.detach())
        loss = terms["loss"] + self.hint_weight * hint
        return (loss, outputs) if return_outputs else loss
