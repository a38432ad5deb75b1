"""What a candidate says about itself: the source accuracy its model card's ``model-index`` reports (e.g. ImageNet
top-1) and on which dataset. Read from the card, never guessed: a candidate without such a card gets no value (a
blank column), and the recommended score ranks it last for that component.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ACCURACY_TYPES = ("accuracy", "top1", "top-1", "top_1", "acc", "acc@1", "top1_accuracy")


def card_text(candidate: Any) -> str | None:
    """The README.md of a local folder or (from the local cache when offline) of a Hub repo; None when absent."""
    if not isinstance(candidate, str | os.PathLike):
        return None
    name = str(candidate)
    for prefix in ("hf-hub:", "local-dir:"):
        name = name.removeprefix(prefix)
    path = Path(name).expanduser()
    if path.is_dir():
        card = path / "README.md"
        return card.read_text(encoding="utf-8", errors="replace") if card.is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(name, "README.md")).read_text(encoding="utf-8", errors="replace")
    except Exception as e:  # noqa: BLE001 - no card: nothing reported
        logger.info("no model card for %s (%s)", name, e)
        return None


def source_accuracy(text: str | None) -> tuple[float | None, str | None]:
    """``(accuracy in [0, 1], dataset name)`` of the first accuracy result in a card's ``model-index``.

    A value above 1 is read as a percentage (model-index allows either). ``(None, None)`` without one.
    """
    if not text:
        return None, None
    try:
        from huggingface_hub import ModelCard

        data = ModelCard(text).data.to_dict()
    except Exception as e:  # noqa: BLE001 - an unreadable card reports nothing
        logger.info("unreadable model card metadata (%s)", e)
        return None, None
    for model in data.get("model-index") or []:
        for result in (model or {}).get("results") or []:
            dataset = (result.get("dataset") or {}) if isinstance(result, dict) else {}
            for metric in (result.get("metrics") or []) if isinstance(result, dict) else []:
                kind = str(metric.get("type", "")).lower()
                if kind in ACCURACY_TYPES or "top-1" in str(metric.get("name", "")).lower():
                    try:
                        value = float(metric["value"])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if value != value or value < 0 or value > 100:
                        continue
                    name = dataset.get("name") or dataset.get("type")
                    return (value / 100 if value > 1 else value), (str(name) if name else None)
    return None, None


def reported_info(candidate: Any) -> dict[str, Any]:
    """``{"source_accuracy", "source_dataset"}`` read from the candidate's card (keys absent when not reported)."""
    accuracy, dataset = source_accuracy(card_text(candidate))
    out: dict[str, Any] = {}
    if accuracy is not None:
        out["source_accuracy"] = accuracy
        if dataset:
            out["source_dataset"] = dataset
    return out
