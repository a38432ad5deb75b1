"""``FilterConfig``: which two models ``hfnet filters`` compares, at which layer, and how (torch-free, validated)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hfnet.errors import HfnetError

__all__ = ["FilterConfig"]


@dataclass
class FilterConfig:
    """Filters: the two models and the measure."""

    model_a: str = field(metadata={"help": "Hub-format folder or Hub id", "positional": True})
    model_b: str = field(metadata={"help": "Hub-format folder or Hub id", "positional": True})
    layer: str | None = field(
        default=None, metadata={"help": "Conv layer (module or tensor name); default: the first conv."}
    )
    layer_b: str | None = field(default=None, metadata={"help": "Conv layer of model B when its name differs."})
    metric: str = field(
        default="cosine",
        metadata={
            "help": "cosine over single-channel filters (seed 000) or Euclidean E_ij / S_i over whole filters "
            "(seed 001).",
            "choices": ("cosine", "euclidean"),
        },
    )
    threshold: float = field(
        default=0.5, metadata={"help": "Cosine binarisation threshold, in [-1, 1].", "min": -1, "max": 1}
    )
    plot: str | None = field(default=None, metadata={"help": "Write the heatmap PNG here."})
    json: str | None = field(default=None, metadata={"help": "Write the summary (and matrix) as JSON here."})
    seed: int = field(default=0, metadata={"help": "Seed of the random-weights reference (>= 0)."})

    def __post_init__(self) -> None:
        if self.metric not in ("cosine", "euclidean"):
            raise HfnetError(f"--metric must be cosine or euclidean, got {self.metric!r}")
        if not math.isfinite(self.threshold) or not -1 <= self.threshold <= 1:
            raise HfnetError(f"--threshold must be in [-1, 1], got {self.threshold}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise HfnetError(f"--seed must be >= 0, got {self.seed}")
