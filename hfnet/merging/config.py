"""``MergeConfig``: what ``hfnet merge`` / ``recipes/merge_models.py`` / :func:`hfnet.merging.merge.run` merge and how.

Declared once (the command line is built from these fields) and validated in ``__post_init__``, so a bad value fails
with one line before any model is read or any folder written. Torch-free, so ``--help`` stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hfnet.errors import HfnetError

__all__ = ["MergeConfig"]


def _finite(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise HfnetError(f"{name} must be a finite number, got {value}")


@dataclass
class MergeConfig:
    """Merge: the parents and the method."""

    models: list[str] = field(
        metadata={"help": "two or more Hub-format folders or Hub ids of one architecture", "positional": True}
    )
    method: str = field(
        default="average",
        metadata={"help": "A merge method registered in hfnet.merging: average, task_arithmetic, ties or slerp."},
    )
    weights: list[float] = field(
        default_factory=list, metadata={"help": "One weight per model (finite numbers; default: equal weights)."}
    )
    base: str | None = field(
        default=None, metadata={"help": "Base model the others were fine-tuned from (task_arithmetic, ties)."}
    )
    align: bool = field(
        default=False, metadata={"help": "Permute every model onto the first by weight matching (Git Re-Basin)."}
    )
    head_from: str | None = field(
        default=None,
        metadata={
            "help": "Take the classifier head, config and labels from this model (needed when the parents' class "
            "names differ)."
        },
    )
    reinit_head: bool = field(
        default=False, metadata={"help": "Re-initialise the classifier head (in the shape of the first model's)."}
    )
    density: float | None = field(
        default=None,
        metadata={"help": "TIES: fraction of each task vector kept, in (0, 1].", "min": 0, "min_open": True, "max": 1},
    )
    scale: float | None = field(
        default=None, metadata={"help": "task_arithmetic / ties: scale of the merged vector (finite)."}
    )
    t: float | None = field(
        default=None,
        metadata={"help": "SLERP: interpolation fraction in [0, 1] (0: the first model).", "min": 0, "max": 1},
    )
    trim: str | None = field(
        default=None,
        metadata={
            "help": "TIES: trim each tensor separately (tensor, as mergekit; default) or each model's whole task "
            "vector with one threshold (model, as the paper).",
            "choices": ("tensor", "model"),
        },
    )
    slerp_norm: str | None = field(
        default=None,
        metadata={
            "help": "SLERP: mergekit's formula on the raw tensors (mergekit; default) or the great-circle direction "
            "times the linearly interpolated norm (interpolate).",
            "choices": ("mergekit", "interpolate"),
        },
    )
    bn_dataset: str | None = field(
        default=None, metadata={"help": "Recompute BatchNorm statistics on this dataset's train split after merging."}
    )
    bn_samples: int = field(default=1024, metadata={"help": "Images for --bn-dataset (>= 1).", "min": 1})
    eval_dataset: str | None = field(
        default=None,
        metadata={"help": "Evaluate the merged model on this dataset's test split; the card's model-index holds it."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the BatchNorm images and of a re-initialised head."})

    def __post_init__(self) -> None:
        self.models = [str(m) for m in self.models]
        self.weights = [float(w) for w in (self.weights or [])]
        for w in self.weights:
            _finite("--weights", w)
        if self.weights and len(self.weights) != len(self.models):
            raise HfnetError(
                f"{len(self.weights)} weights given for {len(self.models)} models; pass exactly one weight per model"
            )
        _finite("--scale", self.scale)
        _finite("--density", self.density)
        _finite("--t", self.t)
        if self.density is not None and not 0 < self.density <= 1:
            raise HfnetError(
                f"--density must be in (0, 1] (the fraction of each task vector kept), got {self.density}"
            )
        if self.t is not None and not 0 <= self.t <= 1:
            raise HfnetError(f"--t must be in [0, 1] (0: the first model, 1: the second), got {self.t}")
        if self.head_from is not None and self.reinit_head:
            raise HfnetError("--head-from and --reinit-head exclude each other: pick one head policy")
        if isinstance(self.bn_samples, bool) or int(self.bn_samples) != self.bn_samples or self.bn_samples < 1:
            raise HfnetError(f"--bn-samples must be >= 1, got {self.bn_samples}")
        if len(self.models) < 2:
            raise HfnetError(
                f"merging needs at least two models, got {len(self.models)}: pass two or more model folders/ids"
            )
        if self.align and self.base is not None:
            raise HfnetError(
                "--align is for independently trained models; models fine-tuned from a common --base share their units"
            )

    @property
    def options(self) -> dict[str, Any]:
        """The method's keyword options that were given (``--slerp-norm`` is SLERP's ``norm``)."""
        names = {"density": "density", "scale": "scale", "t": "t", "trim": "trim", "slerp_norm": "norm"}
        return {key: getattr(self, attr) for attr, key in names.items() if getattr(self, attr) is not None}

    @property
    def head_policy(self) -> str:
        if self.reinit_head:
            return "re-initialised"
        if self.head_from is not None:
            return f"taken from {self.head_from}"  # the job names the parent by Hub id or folder name
        return "merged like the other tensors"
