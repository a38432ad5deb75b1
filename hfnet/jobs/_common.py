"""Steps several jobs share: write a JSON result file, push a saved folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hfnet.options import OutputArguments


def write_json(path: str | None, payload: Any) -> str | None:
    """Write ``payload`` as JSON to ``path`` atomically (nothing when ``path`` is None); the path written."""
    if not path:
        return None
    from hfnet._io import atomic_write_text

    return str(atomic_write_text(Path(path), json.dumps(payload, indent=2, default=str)))


def push_result(folder: str | Path, output: OutputArguments) -> str | None:
    """Push ``folder`` when ``--push-to-hub`` was asked; the repo URL, else None. A failed push keeps the folder."""
    if not output.push_to_hub:
        return None
    from hfnet.hub import push_to_hub

    return push_to_hub(
        folder, output.hub_model_id or Path(folder).name, private=output.private, token=output.hub_token
    )
