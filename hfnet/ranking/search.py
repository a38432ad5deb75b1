"""Candidates from a Hugging Face Hub search: image classifiers of timm and transformers, most downloaded first."""

from __future__ import annotations

from typing import Any

from hfnet.errors import HfnetError

LIBRARIES = ("timm", "transformers")


def search_candidates(query: str | None, limit: int = 5, *, api: Any = None) -> list[str]:
    """Hub ids of up to ``limit`` image-classification models matching ``query``, by downloads.

    Args:
        query: text to search model ids for (None: every image classifier).
        limit: how many ids to return.
        api: an ``huggingface_hub.HfApi`` (or anything with its ``list_models``); a new one by default.
    """
    if limit < 1:
        raise HfnetError(f"--limit must be at least 1, got {limit}")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    found: dict[str, int] = {}
    try:
        for library in LIBRARIES:
            for info in api.list_models(
                search=query or None,
                filter=library,
                pipeline_tag="image-classification",
                sort="downloads",
                limit=limit,
            ):
                found[info.id] = max(found.get(info.id, 0), int(getattr(info, "downloads", 0) or 0))
    except HfnetError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, rate limits...: one line, and what to do instead
        raise HfnetError(
            f"Hub search for {query!r} failed ({type(e).__name__}: {str(e)[:120]}); check your network or pass "
            "--candidates with Hub ids or local folders"
        ) from e
    ranked = sorted(found, key=lambda k: -found[k])[:limit]
    if not ranked:
        raise HfnetError(f"the Hub search for {query!r} found no timm or transformers image classifier")
    return ranked
