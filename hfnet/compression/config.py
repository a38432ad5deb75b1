"""Settings of ``hfnet compress``: the pruning target, the stages and the recovery loss."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hfnet.compression.augment import AUGMENTS
from hfnet.errors import HfnetError
from hfnet.pruning.config import METHODS, check_sparsity

__all__ = ["CompressConfig", "stage_sparsities"]


def stage_sparsities(sparsity: float, stages: int) -> list[tuple[float, float]]:
    """``(cumulative target, fraction removed from the previous stage's model)`` for each of ``stages`` equal steps.

    Stage ``k`` of ``K`` reaches ``sparsity * k / K`` of the dense model's prunable block weights; pruned from the
    model of stage ``k - 1`` that is ``1 - (1 - s_k) / (1 - s_{k-1})`` of what is left.
    """
    out, previous = [], 0.0
    for k in range(1, stages + 1):
        target = sparsity * k / stages
        out.append((target, 1.0 - (1.0 - target) / (1.0 - previous)))
        previous = target
    return out


@dataclass
class CompressConfig:
    """Compression: structured pruning in stages, each recovered with KD (and optional hints) from its teacher.

    Defaults: AFR scores (seed 002), Hinton's KD with ``T = 4``, ``alpha = 0.9``; one stage; the teacher of every
    stage is the dense model. Hints (block ``i`` of the student matches block ``i`` of the teacher by MSE; a ViT keeps
    its hidden width when heads and neurons are removed, so no regressor is needed) are off unless ``hint_weight > 0``;
    so is the consistent view of the training batches (``augment``, :mod:`hfnet.compression.augment`).
    """

    sparsity: float = field(
        default=0.5, metadata={"help": "Fraction in [0, 1) of the blocks' prunable weights removed (heads + neurons)."}
    )
    method: str = field(
        default="afr", metadata={"help": "Unit scores: afr, refer, snip, magnitude or random.", "choices": METHODS}
    )
    stages: int = field(
        default=1, metadata={"help": "Reach the sparsity in this many equal steps, each trained before the next."}
    )
    teacher_of_stage: str = field(
        default="dense",
        metadata={
            "help": "Teacher of each stage: dense (the original model) or previous (the previous stage's model, a "
            "teacher assistant as in seed 004).",
            "choices": ("dense", "previous"),
        },
    )
    temperature: float = field(default=4.0, metadata={"help": "KD softmax temperature T > 0."})
    alpha: float = field(default=0.9, metadata={"help": "Weight in [0, 1] of the soft KD term (1 - alpha: labels)."})
    hint_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the hint loss: mean over blocks of MSE(student block i, teacher block i); 0: off."
        },
    )
    augment: str = field(
        default="none",
        metadata={
            "help": "Consistent teaching (function matching, Beyer et al. 2022): one random view of each training "
            "batch that student and teacher both see: none, crop (random-resized crop + flip), mixup, or crop+mixup.",
            "choices": AUGMENTS,
        },
    )
    mixup_alpha: float = field(
        default=1.0, metadata={"help": "With mixup: blend weights ~ Beta(a, a) per image (1: uniform)."}
    )
    head_fraction: float | None = field(
        default=None,
        metadata={"help": "Fraction of each block's heads to remove (default: the split that removes least score)."},
    )
    calibration_samples: int = field(default=256, metadata={"help": "Training images used for the unit scores."})
    calibration_batch_size: int = field(default=32, metadata={"help": "Batch size of the scoring passes."})
    pruning_seed: int = field(default=0, metadata={"help": "Seed of the calibration subset and random scores."})

    def __post_init__(self) -> None:
        self.sparsity = check_sparsity(self.sparsity)
        self.method = str(self.method).lower()
        if self.method not in METHODS:
            raise HfnetError(f"unknown score {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.stages < 1:
            raise HfnetError(f"--stages must be >= 1, got {self.stages}")
        if self.teacher_of_stage not in ("dense", "previous"):
            raise HfnetError(f"--teacher-of-stage must be dense or previous, got {self.teacher_of_stage!r}")
        if not self.temperature > 0:
            raise HfnetError(f"--temperature must be > 0, got {self.temperature}; try 4")
        if not 0.0 <= self.alpha <= 1.0:
            raise HfnetError(f"--alpha must lie in [0, 1], got {self.alpha}")
        if self.hint_weight < 0:
            raise HfnetError(f"--hint-weight must be >= 0 (0 turns hints off), got {self.hint_weight}")
        if self.augment not in AUGMENTS:
            raise HfnetError(f"--augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if not self.mixup_alpha > 0:
            raise HfnetError(f"--mixup-alpha must be > 0, got {self.mixup_alpha}; 1 mixes uniformly")
        if self.head_fraction is not None and not 0.0 <= self.head_fraction < 1.0:
            raise HfnetError(f"--head-fraction must lie in [0, 1), got {self.head_fraction}")
        if self.calibration_batch_size < 1 or self.calibration_samples < self.calibration_batch_size:
            raise HfnetError(
                f"--calibration-samples ({self.calibration_samples}) must be at least one batch "
                f"(--calibration-batch-size {self.calibration_batch_size} >= 1)"
            )

    def pruning_config(self, sparsity: float):
        """The :class:`~hfnet.pruning.config.PruningConfig` of one stage removing ``sparsity`` of what is left."""
        from hfnet.pruning.config import PruningConfig

        return PruningConfig(
            method=self.method,
            sparsity=sparsity,
            structured=True,
            head_fraction=self.head_fraction,
            calibration_samples=self.calibration_samples,
            calibration_batch_size=self.calibration_batch_size,
            pruning_seed=self.pruning_seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
