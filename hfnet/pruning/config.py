"""Settings of a pruning run (the recipe parses them with ``HfArgumentParser`` beside ``TrainingArguments``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hfnet.errors import HfnetError

__all__ = ["PruneArguments", "PruningConfig", "check_sparsity"]

METHODS = ("random", "magnitude", "snip", "refer", "afr")


def check_sparsity(sparsity: float) -> float:
    """Validate a sparsity (fraction of prunable weights set to zero) in [0, 1)."""
    try:
        value = float(sparsity)
    except (TypeError, ValueError) as e:
        raise HfnetError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from e
    if not 0.0 <= value < 1.0:
        raise HfnetError(f"sparsity must be in [0, 1) (the fraction of prunable weights to zero), got {sparsity}")
    return value


@dataclass
class PruningConfig:
    """How to score, mask and keep the mask (seed 002: single-shot pruning before fine-tuning).

    Defaults follow the paper: AFR, 90 % sparsity of the prunable weights with one global threshold, ReFer features
    from the class token of every block output. ``calibration_samples`` and ``refer_statistics`` are hfnet *choices*.
    """

    method: str = field(
        default="afr",
        metadata={"help": "Scores: afr (z(SNIP) + z(ReFer)), refer, snip, magnitude or random.", "choices": METHODS},
    )
    sparsity: float = field(
        default=0.9, metadata={"help": "Fraction in [0, 1) of the prunable weights set to zero (paper: 0.9-0.98)."}
    )
    scope: str = field(
        default="global",
        metadata={"help": "global: one threshold across all layers (SNIP, paper); layer: same sparsity per layer."},
    )
    calibration_samples: int = field(
        default=256,
        metadata={"help": "Training images (a seeded random subset) whose gradients are accumulated for the scores."},
    )
    calibration_batch_size: int = field(
        default=32, metadata={"help": "Batch size of the scoring passes (does not change the scores)."}
    )
    token_pooling: str = field(
        default="cls",
        metadata={
            "help": "Rows of the ReFer feature matrix F of each block: cls (class token), mean (mean over tokens) "
            "or tokens (every token a row).",
            "choices": ("cls", "mean", "tokens"),
        },
    )
    refer_statistics: str = field(
        default="union",
        metadata={
            "help": "union: singular values of all calibration samples together (exact for any batching or process "
            "count; one extra forward pass); batch: per-batch singular values, gradients summed.",
            "choices": ("union", "batch"),
        },
    )
    pruning_seed: int = field(default=0, metadata={"help": "Seed of the calibration subset and of the random scores."})
    structured: bool = field(
        default=False,
        metadata={
            "help": "Remove whole attention heads and MLP neurons (the same number in every block) instead of "
            "zeroing single weights: the saved checkpoint is smaller and faster and loads in plain transformers / "
            "timm. sparsity is then the fraction of the blocks' prunable weights removed; scope is not used."
        },
    )
    head_fraction: float | None = field(
        default=None,
        metadata={
            "help": "With structured: fraction of each block's attention heads to remove (MLP neurons fill the rest "
            "of the sparsity budget). Default: the split that removes the least total score."
        },
    )

    def __post_init__(self) -> None:
        self.method = str(self.method).lower()
        if self.method not in METHODS:
            raise HfnetError(f"unknown pruning method {self.method!r}; choose one of {', '.join(METHODS)}")
        self.sparsity = check_sparsity(self.sparsity)
        if self.scope not in ("global", "layer"):
            raise HfnetError(f"scope must be 'global' or 'layer', got {self.scope!r}")
        if self.token_pooling not in ("cls", "mean", "tokens"):
            raise HfnetError(f"token_pooling must be cls, mean or tokens, got {self.token_pooling!r}")
        if self.refer_statistics not in ("union", "batch"):
            raise HfnetError(f"refer_statistics must be union or batch, got {self.refer_statistics!r}")
        if self.head_fraction is not None:
            if not self.structured:
                raise HfnetError("head_fraction applies to structured pruning only: add structured=True")
            try:
                self.head_fraction = float(self.head_fraction)
            except (TypeError, ValueError) as e:
                raise HfnetError(f"head_fraction must be a number in [0, 1), got {self.head_fraction!r}") from e
            if not 0.0 <= self.head_fraction < 1.0:
                raise HfnetError(
                    f"head_fraction must be in [0, 1) (at least one head stays in every block), got {self.head_fraction}"
                )
        if self.calibration_batch_size < 1:
            raise HfnetError(f"calibration_batch_size must be >= 1, got {self.calibration_batch_size}")
        if self.calibration_samples < self.calibration_batch_size:
            raise HfnetError(
                f"calibration_samples ({self.calibration_samples}) is fewer than one batch "
                f"({self.calibration_batch_size}): raise calibration_samples or lower calibration_batch_size"
            )

    @property
    def needs_data(self) -> bool:
        return self.method in ("snip", "refer", "afr")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneArguments:
    """Model: what to prune."""

    model: str = field(
        metadata={
            "help": "pretrained classifier: Hub id or local Hub-format folder",
            "positional": True,
            "option": "--model_name_or_path",
        }
    )
    json: str | None = field(
        default=None, metadata={"help": "Also write the run summary (world size, mask sha256, accuracy) as JSON here."}
    )
    allow_untrained_head: bool = field(
        default=False,
        metadata={
            "help": "Save even when the dataset's classes are new to the model (its head is replaced) and no "
            "training is asked for (--epochs 0 --max-steps 0): the head is then untrained, and the card says so."
        },
    )
