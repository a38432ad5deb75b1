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


def result_lines(summary: dict[str, Any], output_dir: str, json_path: str | None) -> list[str]:
    """The lines every checkpoint job prints after its table: where it saved, the JSON it wrote, where it pushed."""
    lines = [f"saved {summary.get('output_dir', output_dir)}"]
    if json_path:
        lines.append(f"wrote {write_json(json_path, summary)}")
    if summary.get("hub_url"):
        lines.append(f"pushed to {summary['hub_url']}")
    return lines
