"""The rank job: the one library entry point that ``hfnet rank`` and ``recipes/rank_models.py`` call.

``rank_job(config, dataset)`` searches the Hub when asked (showing what it will download first), splits the
candidates across processes under ``accelerate launch``, reuses cached forward outputs, scores, gathers one table,
picks a recommended candidate with the best-validated score, and writes the JSON / PNG the config names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hfnet.errors import HfnetError
from hfnet.ranking.config import PREFERENCE, SINGLE_VALIDATION, VALIDATION, RankingConfig
from hfnet.ranking.ranker import REPORTED, Ranking, finalise, rank_models
from hfnet.ranking.search import SearchResult, format_search, search_hub

logger = logging.getLogger(__name__)


@dataclass
class RankingResult:
    """A finished rank job: the ranking, its sort order, the recommended pick and why, the search it ran."""

    ranking: Ranking
    sort_by: str
    recommended: dict[str, Any] | None
    search: list[SearchResult] = field(default_factory=list)
    num_processes: int = 1
    is_main_process: bool = True

    def rows(self) -> list[dict[str, Any]]:
        """One dict per candidate, best first under ``sort_by`` (failed candidates last): score values, ranks,
        parameters, whether the forward outputs came from the cache, and the error of a failed candidate."""
        ranks = {m: self.ranking.ranks(m) for m in self.ranking.metrics}
        order = sorted(
            self.ranking.candidates,
            key=lambda c: (c.error is not None, ranks[self.sort_by].get(c.name) or 10**9, c.index),
        )
        rows = []
        for c in order:
            row: dict[str, Any] = {"candidate": c.name}
            for m in self.ranking.metrics:
                value = c.scores.get(m)
                row[m] = None if value is None else float(value)
                row[f"#{m}"] = ranks[m].get(c.name)
            row["params"] = c.num_params
            for key in REPORTED:
                row[key] = c.reported.get(key)
            row["cached"] = c.cached
            row["forward_batches"] = c.forward_batches
            if c.error:
                row["error"] = c.error
            rows.append(row)
        return rows

    def table(self) -> str:
        """The text table the front ends print: ``value (rank)`` per score, notes, skips, the recommendation."""
        from hfnet._table import format_table

        lines = []
        ranked = [r for r in self.rows() if "error" not in r]
        if ranked:
            printable = []
            for r in ranked:
                row = {"candidate": r["candidate"]}
                for m in self.ranking.metrics:
                    row[m] = "n/a" if r[m] is None else f"{r[m]:.4g} ({r['#' + m]})"
                row["params"] = "?" if r["params"] is None else f"{r['params'] / 1e6:.2f}M"
                # self-reported, blank when absent
                row["src acc"] = "" if r["source_accuracy"] is None else f"{r['source_accuracy']:.3f}"
                if any(x["downloads"] is not None for x in ranked):
                    row["downloads"] = "" if r["downloads"] is None else f"{r['downloads']:,}"
                row["cache"] = "hit" if r["cached"] else ""
                printable.append(row)
            lines.append(f"sorted by {self.sort_by}")
            lines.append(format_table(printable))
        lines += [f"note: {n}" for n in self.ranking.notes]
        lines += [f"skipped {c.name}: {c.error}" for c in self.ranking.failed]
        lines += [f"warning {c.name}: {w}" for c in self.ranking.ranked for w in c.warnings]
        if self.recommended:
            lines.append(f"recommended: {self.recommended['candidate']} ({self.recommended['reason']})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the ranking, ``sort_by``, ``recommended`` {score, candidate, reason}, the table rows."""
        data = self.ranking.to_dict()
        data["sort_by"] = self.sort_by
        data["recommended"] = self.recommended
        data["table"] = self.rows()
        data["search"] = [asdict(r) for r in self.search]
        data["num_processes"] = self.num_processes
        return data

    def save_json(self, path: str | os.PathLike) -> Path:
        import json

        from hfnet._io import atomic_write_text
        from hfnet.ranking.ranker import _json_default

        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, default=_json_default))
        return path

    def plot(self, path: str | os.PathLike) -> Path:
        from hfnet.ranking.plot import plot_ranking

        return plot_ranking(self.ranking, path)


def recommend(ranking: Ranking) -> dict[str, Any] | None:
    """The best candidate under the best-validated score computed, with the reason in words."""
    score = next((m for m in PREFERENCE if m in ranking.metrics), None)
    if score is None or not ranking.ranked:
        return None
    ranks = ranking.ranks(score)
    order = sorted((r, n) for n, r in ranks.items() if r is not None)
    if not order:
        return None
    best = order[0][1]
    value = next(c.scores[score] for c in ranking.ranked if c.name == best)
    others = [m for m in ranking.metrics if m != score]
    agree = [m for m in others if ranking.ranks(m).get(best) == 1]
    if score == "recommended":
        from hfnet.ranking.recommended import RULE

        used = ", ".join(ranking.recommended_components)
        reason = f"first under recommended, {VALIDATION}: {RULE}; components used: {used}; mean rank {value:.3g}"
    else:
        reason = f"first under {score}, {SINGLE_VALIDATION}; {score} = {value:.4g}"
    if len(order) > 1:
        runner = order[1][1]
        runner_value = next(c.scores[score] for c in ranking.ranked if c.name == runner)
        reason += f" vs {runner_value:.4g} for the runner-up {runner}"
    if others:
        reason += f"; {len(agree)} of the {len(others)} other scores also rank it first"
    return {"score": score, "candidate": best, "value": value, "reason": reason}


def _distributed_state():
    """accelerate's PartialState when launched with more than one process (torchrun / accelerate launch), else None.

    Without CUDA the state is asked for CPU processes explicitly: ``accelerate launch --multi_gpu`` on a machine
    without GPUs otherwise yields a non-distributed state in every process (each would rank every candidate).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    if state.num_processes <= 1:
        raise HfnetError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but accelerate sees one process ({state.distributed_type}); "
            "launch with `accelerate launch --num_processes N` (add --cpu on a machine without GPUs)"
        )
    return state


def rank_job(
    config: RankingConfig,
    dataset,
    *,
    dataset_name: str | None = None,
    loader: Callable[[str], Any] | None = None,
    api: Any = None,
    on_search: Callable[[list[SearchResult]], None] | None = None,
) -> RankingResult:
    """Run the rank job of ``config`` on a labelled ``dataset`` (one split of :func:`hfnet.data.load_image_dataset`).

    Under ``accelerate launch`` (more than one process) candidate ``i`` is scored by process ``i % num_processes``;
    the shards are gathered (``accelerate.utils.gather_object``) so every process returns the same table as a
    single process would, and only the main process writes ``config.json`` / ``config.plot``.

    Args:
        config: the job's options.
        dataset: the target split.
        dataset_name: shown in the table and the plot.
        loader: loads a candidate given as a string (default :func:`hfnet.classifier.load_classifier`).
        api: an ``HfApi`` for ``config.search`` (tests pass a fake).
        on_search: called with the search results (sizes, skips) before anything is downloaded; default: logged.

    Raises:
        HfnetError: no candidates, bad dataset, every candidate failed.
    """
    state = _distributed_state()
    num_processes = 1 if state is None else state.num_processes
    is_main = state is None or state.is_main_process

    candidates, results = _candidates(config, state, is_main, api, on_search)
    ranking = _rank_shard(config, dataset, candidates, _search_reported(results), loader, state)
    if state is not None:
        _gather(ranking)
    ranking.dataset = dataset_name
    result = RankingResult(
        ranking=ranking,
        sort_by=config.default_sort(ranking.metrics),
        recommended=recommend(ranking),
        search=results,
        num_processes=num_processes,
        is_main_process=is_main,
    )
    if is_main:
        _write(result, config)
    if not ranking.ranked:
        reasons = "; ".join(f"{c.name}: {c.error}" for c in ranking.failed)
        raise HfnetError(f"every candidate failed to load or run ({reasons})")
    return result


def _rank_shard(
    config: RankingConfig,
    dataset,
    candidates: list[str],
    reported: dict[str, dict[str, Any]],
    loader: Callable[[str], Any] | None,
    state,
) -> Ranking:
    """This process's share of the candidates ranked (all of them without ``state``), on its own GPU when it has one."""
    if state is not None and state.device.type != "cpu":  # each process runs its candidates on its own GPU
        loader = _on_device(loader, state.device)
    class_map = None
    if config.class_map:
        from hfnet.ranking.word_vectors import load_class_map

        class_map = load_class_map(config.class_map)
    return rank_models(
        candidates,
        dataset,
        metrics=config.metrics,
        word_vectors=config.word_vectors,
        class_map=class_map,
        combine=config.combine,  # type: ignore[arg-type]
        num_samples=config.num_samples,
        batch_size=config.batch_size,
        seed=config.seed,
        progress=config.progress and (state is None or state.is_main_process),
        loader=loader,
        cache_dir=config.cache_dir,
        process_index=0 if state is None else state.process_index,
        num_processes=1 if state is None else state.num_processes,
        reported=reported,
    )


def _search_reported(results: list[SearchResult]) -> dict[str, dict[str, Any]]:
    """What the Hub search says of each kept candidate (its downloads), by candidate id."""
    return {r.id: {"downloads": r.downloads} for r in results if r.kept}


def _gather(ranking: Ranking) -> None:
    """Every process's candidates into ``ranking``, in candidate order, and the set-relative scores over all of
    them (NCTI and the recommended score are relative to the whole candidate set)."""
    from accelerate.utils import gather_object

    shards = gather_object([ranking.candidates])
    ranking.candidates = sorted((c for shard in shards for c in shard), key=lambda c: c.index)
    finalise(ranking)


def _write(result: RankingResult, config: RankingConfig) -> None:
    """The JSON and the plot ``config`` names (the main process only)."""
    if config.json:
        result.save_json(config.json)
    if config.plot:
        result.plot(config.plot)


def _candidates(config: RankingConfig, state, is_main: bool, api, on_search) -> tuple[list[str], list[SearchResult]]:
    """The candidates to rank: ``config.candidates`` then the kept Hub search results (searched on the main process
    and broadcast, so every process ranks the same list)."""
    candidates = list(config.candidates)
    results: list[SearchResult] = []
    if config.search is not None:
        if is_main:
            results = search_hub(config.search, config.limit, max_params=config.max_params, api=api)
        if state is not None:
            from accelerate.utils import broadcast_object_list

            results = broadcast_object_list([results])[0]
        if is_main:
            (on_search or (lambda r: logger.warning("%s", format_search(r))))(results)
        candidates += [r.id for r in results if r.kept and r.id not in candidates]
    if not candidates:
        raise HfnetError("no candidates: pass --candidates M1 M2 ... and/or --search QUERY")
    return candidates, results


def _on_device(loader: Callable[[str], Any] | None, device) -> Callable[[str], Any]:
    """``loader`` (default :func:`hfnet.classifier.load_classifier`) with each loaded model moved to ``device``."""
    from hfnet.classifier import load_classifier

    base_loader = loader or load_classifier

    def load(name: str):
        return base_loader(name).to(device)

    return load


__all__ = ["RankingResult", "rank_job", "recommend"]
