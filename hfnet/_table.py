"""Plain-text tables: the one formatter every front end (CLI, recipes, demo, benchmarks) prints with."""

from __future__ import annotations

__all__ = ["format_table"]


def format_table(rows: list[dict], floatfmt: str = "{:.4g}") -> str:
    """A plain-text table of dict rows (union of keys as columns)."""
    if not rows:
        return "(no rows)"
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]

    def cell(v) -> str:
        if isinstance(v, float):
            return floatfmt.format(v)
        return "" if v is None else str(v)

    table = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
