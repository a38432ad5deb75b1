"""The knowledge-distillation settings, declared once and importable without torch or transformers.

:class:`hfnet.distillation.config.DistillationConfig` is ``TrainingArguments`` + these fields (+ the hint layers);
``hfnet distill`` and ``recipes/distill.py`` parse them from the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError

__all__ = ["DistillationOptions"]


@dataclass
class DistillationOptions:
    """Distillation: the KD loss, merit weights and hint stage.

    Defaults follow the papers: Hinton et al. 2015 (``temperature``, ``alpha``), the seed's merit-based weighting
    (a small ``merit_delta``) and FitNets (Romero et al. 2014) for the hint stage.
    """

    temperature: float = field(
        default=4.0,
        metadata={
            "help": "Softmax temperature T > 0 of the soft targets (Hinton et al. used 1 to 20).",
            "min": 0,
            "min_open": True,
        },
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight in [0, 1] of the soft loss T^2 * KL; the hard cross-entropy gets 1 - alpha (0.5: the "
            "distillation benchmark and the demo).",
            "min": 0,
            "max": 1,
        },
    )
    merit_delta: float = field(
        default=0.0,
        metadata={
            "help": "Merit-based distillation: per sample, alpha + delta where the teacher is right and alpha - delta "
            "where it is wrong (clipped to [0, 1]). 0 disables it; the seed found small shifts (about 0.1) best.",
            "aliases": ("--merit",),
            "min": 0,
            "max": 1,
        },
    )
    hint_epochs: float = field(
        default=1.0,
        metadata={"help": "Epochs of the hint stage (before KD); ignored when hint_max_steps > 0.", "min": 0},
    )
    hint_max_steps: int = field(
        default=-1,
        metadata={
            "help": "Optimizer steps of the hint stage; -1 uses hint_epochs.",
            "aliases": ("--hint-steps",),
            "min": -1,
        },
    )
    hint_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the hint stage; default: learning_rate.", "min": 0, "min_open": True},
    )
    cache_teacher_logits: bool = field(
        default=False,
        metadata={
            "help": "Run the teacher once over the training set and reuse its logits every epoch. Refused when the "
            "training set is randomly augmented (the same index gives different pixels)."
        },
    )

    def __post_init__(self) -> None:
        self.validate_distillation()

    def validate_distillation(self) -> None:
        if not self.temperature > 0:
            raise HfnetError(f"temperature must be > 0, got {self.temperature}; try 4 (Hinton et al. used 1 to 20)")
        if not 0.0 <= self.alpha <= 1.0:
            raise HfnetError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not 0.0 <= self.merit_delta <= 1.0:
            raise HfnetError(
                f"merit_delta must lie in [0, 1], got {self.merit_delta}; the seed used small shifts ~0.1"
            )
        if self.hint_epochs <= 0 and self.hint_max_steps <= 0:
            raise HfnetError("the hint stage needs hint_epochs > 0 or hint_max_steps > 0")

    def distillation_kwargs(self) -> dict:
        """These settings as keyword arguments (for :class:`DistillationConfig`)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(DistillationOptions)}
