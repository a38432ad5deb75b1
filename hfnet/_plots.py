"""The two steps every hfnet figure shares: a headless pyplot, and saving a figure (folders made, figure closed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["plot_training_curves", "pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed; imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` (parent folders made) and close it; returns the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def plot_training_curves(
    log_history: list[dict[str, Any]], path: str | os.PathLike, *, title: str = ""
) -> Path | None:
    """The Trainer's logged losses against the optimizer step (``loss`` and any ``loss_*`` terms); None when
    nothing was logged (training shorter than ``logging_steps``)."""
    keys = sorted({k for row in log_history for k in row if k == "loss" or k.startswith("loss_")})
    points = {k: [(row["step"], float(row[k])) for row in log_history if k in row and "step" in row] for k in keys}
    points = {k: v for k, v in points.items() if v}
    if not points:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for key, values in points.items():
        ax.plot([s for s, _ in values], [v for _, v in values], marker="." if len(values) < 30 else None, label=key)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title or "training losses", fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
