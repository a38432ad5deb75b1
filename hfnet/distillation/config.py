"""Training arguments for :class:`hfnet.distillation.trainer.DistillationTrainer`."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from hfnet.distillation.options import DistillationOptions, parse_hint

__all__ = ["DistillationConfig", "parse_hint"]


@dataclass
class DistillationConfig(TrainingArguments, DistillationOptions):
    """Knowledge-distillation settings (:class:`DistillationOptions`) on top of ``TrainingArguments``."""

    hint: str | None = field(
        default=None,
        metadata={
            "help": "FitNets hint stage 'STUDENT_LAYER:TEACHER_LAYER' (module names inside each model): a regressor "
            "maps the student layer onto the teacher layer and the student is trained up to that layer first."
        },
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Keep False: the distillation batches carry extra keys (teacher pixels, cached logits)."},
    )

    def __post_init__(self) -> None:
        TrainingArguments.__post_init__(self)
        self.validate_distillation()
        if self.hint is not None:
            parse_hint(self.hint)

    @property
    def hint_layers(self) -> tuple[str, str] | None:
        """``(student_layer, teacher_layer)`` of the hint stage, or ``None``."""
        return parse_hint(self.hint) if self.hint else None
