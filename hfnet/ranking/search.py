"""Candidates from a Hugging Face Hub search: image classifiers of timm and transformers, most downloaded first,
with their sizes, so a user sees (and can cap, ``max_params``) what will be downloaded before it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfnet.errors import HfnetError

LIBRARIES = ("timm", "transformers")


@dataclass
class SearchResult:
    """One Hub model a search found: its id, downloads, parameter count and stored size (None when the Hub does not
    say), and whether it is kept under ``max_params``."""

    id: str
    downloads: int = 0
    num_params: int | None = None
    size_bytes: int | None = None
    kept: bool = True
    reason: str = ""


def _num_params(info: Any) -> int | None:
    safetensors = getattr(info, "safetensors", None)
    total = getattr(safetensors, "total", None) if safetensors is not None else None
    return int(total) if total else None


def search_hub(
    query: str | None, limit: int = 5, *, max_params: float | None = None, api: Any = None
) -> list[SearchResult]:
    """Up to ``limit`` image classifiers matching ``query`` by downloads, each with its size; those over
    ``max_params`` (or of unknown size when ``max_params`` is set) are listed with ``kept=False`` and why.

    Args:
        query: text to search model ids for (None: every image classifier).
        limit: how many kept results to return at most.
        max_params: largest parameter count kept (None: no cap).
        api: an ``huggingface_hub.HfApi`` (or anything with its ``list_models``); a new one by default.
    """
    if limit < 1:
        raise HfnetError(f"--limit must be at least 1, got {limit}")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    found: dict[str, SearchResult] = {}
    # ask for more than `limit` when capping by size, so `limit` results can remain after the cap
    fetch = limit if max_params is None else max(4 * limit, limit + 20)
    try:
        for library in LIBRARIES:
            for info in api.list_models(
                search=query or None,
                filter=library,
                pipeline_tag="image-classification",
                sort="downloads",
                limit=fetch,
                expand=["downloads", "safetensors", "usedStorage"],
            ):
                result = SearchResult(
                    id=info.id,
                    downloads=int(getattr(info, "downloads", 0) or 0),
                    num_params=_num_params(info),
                    size_bytes=getattr(info, "used_storage", None),
                )
                if info.id not in found or result.downloads > found[info.id].downloads:
                    found[info.id] = result
    except HfnetError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, rate limits...: one line, and what to do instead
        raise HfnetError(
            f"Hub search for {query!r} failed ({type(e).__name__}: {str(e)[:120]}); check your network or pass "
            "--candidates with Hub ids or local folders"
        ) from e
    ordered = sorted(found.values(), key=lambda r: -r.downloads)
    if not ordered:
        raise HfnetError(f"the Hub search for {query!r} found no timm or transformers image classifier")
    kept = 0
    for r in ordered:
        if max_params is not None and r.num_params is None:
            r.kept, r.reason = False, "unknown parameter count"
        elif max_params is not None and r.num_params > max_params:
            r.kept, r.reason = False, f"{r.num_params:,} parameters > max_params {max_params:,.0f}"
        elif kept >= limit:
            r.kept, r.reason = False, f"beyond limit {limit}"
        if r.kept:
            kept += 1
    return [r for r in ordered if r.kept or r.reason != f"beyond limit {limit}"]


def search_candidates(
    query: str | None, limit: int = 5, *, api: Any = None, max_params: float | None = None
) -> list[str]:
    """Hub ids of up to ``limit`` image-classification models matching ``query``, by downloads (see
    :func:`search_hub` for sizes and the ``max_params`` cap)."""
    return [r.id for r in search_hub(query, limit, max_params=max_params, api=api) if r.kept]


def _size(n: float | None, unit: str) -> str:
    if n is None:
        return "?"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


def format_search(results: list[SearchResult]) -> str:
    """A few lines: what will be downloaded (id, parameters, stored size, downloads) and what is skipped and why."""
    kept = [r for r in results if r.kept]
    total = sum(r.size_bytes or 0 for r in kept)
    lines = [f"will download {len(kept)} model(s), about {_size(total, 'B')} stored on the Hub:"]
    lines += [
        f"  {r.id}: {_size(r.num_params, '')} params, {_size(r.size_bytes, 'B')}, {r.downloads:,} downloads"
        for r in kept
    ]
    lines += [f"  skipped {r.id}: {r.reason}" for r in results if not r.kept]
    return "\n".join(lines)
