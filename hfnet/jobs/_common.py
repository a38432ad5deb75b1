"""Steps several jobs share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | None, payload: Any) -> str | None:
    """Write ``payload`` as JSON to ``path`` atomically (nothing when ``path`` is None); the path written."""
    if not path:
        return None
    from hfnet._io import atomic_write_text

    return str(atomic_write_text(Path(path), json.dumps(payload, indent=2, default=str)))
