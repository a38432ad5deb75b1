"""Training arguments for :class:`hfnet.distillation.trainer.DistillationTrainer`."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from hfnet.errors import HfnetError

__all__ = ["DistillationConfig", "parse_hint"]


def parse_hint(spec: str) -> tuple[str, str]:
    """Split ``"STUDENT_LAYER:TEACHER_LAYER"`` into its two module names."""
    parts = spec.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise HfnetError(
            f"hint {spec!r} must look like STUDENT_LAYER:TEACHER_LAYER with module names inside each model, "
            "e.g. 'resnet.encoder.stages.1:resnet.encoder.stages.2'"
        )
    return parts[0].strip(), parts[1].strip()


@dataclass
class DistillationConfig(TrainingArguments):
    """Knowledge-distillation settings on top of ``TrainingArguments``.

    Defaults follow the papers: Hinton et al. 2015 (``temperature``, ``alpha``), the seed's merit-based weighting
    (a small ``merit_delta``) and FitNets (Romero et al. 2014) for the hint stage.
    """

    temperature: float = field(
        default=4.0,
        metadata={"help": "Softmax temperature T > 0 of the soft targets (Hinton et al. used 1 to 20)."},
    )
    alpha: float = field(
        default=0.9,
        metadata={"help": "Weight in [0, 1] of the soft loss T^2 * KL; the hard cross-entropy gets 1 - alpha."},
    )
    merit_delta: float = field(
        default=0.0,
        metadata={
            "help": "Merit-based distillation: per sample, alpha + delta where the teacher is right and alpha - delta "
            "where it is wrong (clipped to [0, 1]). 0 disables it; the seed found small shifts (about 0.1) best."
        },
    )
    hint: str | None = field(
        default=None,
        metadata={
            "help": "FitNets hint stage 'STUDENT_LAYER:TEACHER_LAYER' (module names inside each model): a regressor "
            "maps the student layer onto the teacher layer and the student is trained up to that layer first."
        },
    )
    hint_epochs: float = field(
        default=1.0, metadata={"help": "Epochs of the hint stage (before KD); ignored when hint_max_steps > 0."}
    )
    hint_max_steps: int = field(
        default=-1, metadata={"help": "Optimizer steps of the hint stage; -1 uses hint_epochs."}
    )
    hint_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the hint stage; default: learning_rate."}
    )
    cache_teacher_logits: bool = field(
        default=False,
        metadata={
            "help": "Run the teacher once over the training set and reuse its logits every epoch. Refused when the "
            "training set is randomly augmented (the same index gives different pixels)."
        },
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Keep False: the distillation batches carry extra keys (teacher pixels, cached logits)."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.temperature > 0:
            raise HfnetError(f"temperature must be > 0, got {self.temperature}; try 4 (Hinton et al. used 1 to 20)")
        if not 0.0 <= self.alpha <= 1.0:
            raise HfnetError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not 0.0 <= self.merit_delta <= 1.0:
            raise HfnetError(
                f"merit_delta must lie in [0, 1], got {self.merit_delta}; the seed used small shifts ~0.1"
            )
        if self.hint is not None:
            parse_hint(self.hint)
        if self.hint_epochs <= 0 and self.hint_max_steps <= 0:
            raise HfnetError("the hint stage needs hint_epochs > 0 or hint_max_steps > 0")

    @property
    def hint_layers(self) -> tuple[str, str] | None:
        """``(student_layer, teacher_layer)`` of the hint stage, or ``None``."""
        return parse_hint(self.hint) if self.hint else None
