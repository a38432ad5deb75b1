"""Knowledge distillation: KD / merit / hint losses, ``DistillationConfig`` + ``DistillationTrainer``, assistant
chains and the multimodal selector (seed 004, METHODS.md section 4).

Names are imported lazily so that ``hfnet distill --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "kd_loss": "losses",
    "kd_loss_terms": "losses",
    "hard_loss": "losses",
    "soft_loss": "losses",
    "merit_weights": "losses",
    "hint_loss": "losses",
    "DistillationConfig": "config",
    "DistillationTrainer": "trainer",
    "convert_pixels": "trainer",
    "check_same_classes": "trainer",
    "HintRegressor": "hint",
    "distill": "chain",
    "distill_chain": "chain",
    "run_hint_stage": "hint",
    "HintTrainer": "hint",
    "StageResult": "chain",
    "with_distillation_transform": "data",
    "ModalitySelector": "selector",
    "train_selector": "selector",
    "select_predictions": "selector",
    "average_predictions": "selector",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hfnet.distillation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hfnet.distillation.{_EXPORTS[name]}"), name)
