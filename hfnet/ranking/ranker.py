"""Rank candidate classifiers for a target dataset: one forward pass each, every requested score from it.

A candidate that fails to load or run is reported and skipped; the others are still ranked. A candidate without
class names gets every score but the word-vector EMD (with a warning).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking.metrics import METRICS, Metric, ScoreInputs, get_metrics
from hfnet.ranking.recommended import RULE_BY_METRIC
from hfnet.ranking.reported import reported_info
from hfnet.ranking.softmax_max import softmax
from hfnet.ranking.word_vectors import Combine, class_distances, class_vectors, load_word_vectors

logger = logging.getLogger(__name__)


@dataclass
class CandidateResult:
    """One candidate's scores (None where a score could not be computed) and what happened."""

    name: str
    scores: dict[str, float | None] = field(default_factory=dict)
    num_source_classes: int | None = None
    num_params: int | None = None
    seconds: float = 0.0
    forward_seconds: float = 0.0
    score_seconds: float = 0.0
    metric_seconds: dict[str, float] = field(default_factory=dict)
    forward_batches: int = 0
    cached: bool = False
    reported: dict[str, Any] = field(default_factory=dict)
    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    index: int = 0
    process: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Ranking:
    """Scores of every candidate; :meth:`ranks` orders them under one score (1 = most transferable)."""

    metrics: list[str]
    higher_is_better: dict[str, bool]
    candidates: list[CandidateResult]
    num_samples: int
    num_target_classes: int
    target_classes: list[str]
    word_vectors: str | None = None
    target_oov: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)
    set_relative: list[str] = field(default_factory=list)
    recommended_components: list[str] = field(default_factory=list)

    @property
    def ranked(self) -> list[CandidateResult]:
        return [c for c in self.candidates if c.error is None]

    @property
    def failed(self) -> list[CandidateResult]:
        return [c for c in self.candidates if c.error is not None]

    def ranks(self, metric: str) -> dict[str, int | None]:
        """Candidate name -> rank under ``metric`` (1 = best; ties share the better rank; None when missing).

        Ties under ``recommended`` go to the better LogME value (its rule); a tied candidate without a LogME value
        comes after those with one.
        """
        values = {c.name: c.scores.get(metric) for c in self.ranked}
        present = {k: v for k, v in values.items() if v is not None and np.isfinite(v)}
        sign = -1.0 if self.higher_is_better[metric] else 1.0
        breaker = TIE_BREAK.get(metric)

        def key(name: str) -> tuple[float, float]:
            second = self.candidate(name).scores.get(breaker) if breaker else None
            if breaker is None:
                return (sign * present[name], 0.0)
            if second is None or not np.isfinite(second):  # without a tie-break value: after those with one
                return (sign * present[name], np.inf)
            return (sign * present[name], -second if self.higher_is_better.get(breaker, True) else second)

        ordered = sorted(key(n) for n in present)
        out: dict[str, int | None] = {k: None for k in values}
        for name in present:
            out[name] = 1 + ordered.index(key(name))
        return out

    def candidate(self, name: str) -> CandidateResult:
        return next(c for c in self.candidates if c.name == name)

    def rows(self) -> list[dict[str, Any]]:
        """Table rows: one per candidate, a score column and a rank column per metric."""
        ranks = {m: self.ranks(m) for m in self.metrics}
        rows = []
        for c in self.candidates:
            row: dict[str, Any] = {"candidate": c.name}
            for m in self.metrics:
                value = c.scores.get(m)
                row[m] = None if value is None else float(value)
                row[f"#{m}"] = ranks[m].get(c.name)
            for key in REPORTED:
                row[key] = c.reported.get(key)
            row["seconds"] = round(c.seconds, 2)
            if c.error:
                row["error"] = c.error
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ranks"] = {m: self.ranks(m) for m in self.metrics}
        return data

    def save_json(self, path: str | os.PathLike) -> Path:
        from hfnet._io import atomic_write_text

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, default=_json_default))
        return path


# the recommended scores' tie rules (hfnet/ranking/recommended.py): ties go to the better value of this score
TIE_BREAK = {metric: rule.tie_break for metric, rule in RULE_BY_METRIC.items()}
# what a candidate says about itself (its card and config, or the Hub search), shown in their own columns
REPORTED = ("source_accuracy", "source_dataset", "downloads")
SOURCE_ACCURACY_NOTE = "source accuracy left out of"
SET_RELATIVE_NOTE = (
    "{names} are computed over the candidate set ranked together: adding or removing a candidate changes every value"
)


def finalise(ranking: Ranking) -> Ranking:
    """Compute the set-relative scores (NCTI, the authors' ETran, then the recommended rank combinations) over the
    ranked candidates.

    Called by :func:`rank_models` and again by the rank job after gathering the shards of a multi-process run, so
    the values are always relative to the whole candidate set. Idempotent.
    """
    from hfnet.ranking.etran import reference_etran
    from hfnet.ranking.ncti import ncti
    from hfnet.ranking.recommended import comparable_source_accuracy, recommended_scores

    ranked = ranking.ranked
    relative = [m for m in ranking.metrics if m in METRICS and METRICS[m].set_relative]
    if "ncti" in ranking.metrics:
        for c, value in zip(ranked, ncti([c.terms.get("ncti") for c in ranked])):
            c.scores["ncti"] = value
    if "etran_reference" in ranking.metrics:
        have = [c for c in ranked if "etran_reference" in c.terms]
        values = reference_etran(*([c.terms["etran_reference"][t] for c in have] for t in ("energy", "lda")))
        by_candidate = dict(zip(map(id, have), values))
        for c in ranked:
            c.scores["etran_reference"] = by_candidate.get(id(c))
    comparable, why = comparable_source_accuracy([c.reported for c in ranked])
    ranking.notes = [n for n in ranking.notes if not n.startswith(SOURCE_ACCURACY_NOTE)]
    for metric in (m for m in ranking.metrics if m in RULE_BY_METRIC):
        rule = RULE_BY_METRIC[metric]
        values = {
            name: [c.reported.get(name) if name == "source_accuracy" else c.scores.get(name) for c in ranked]
            for name in rule.components
            if name != "source_accuracy" or comparable or not rule.same_source_dataset
        }
        if "source_accuracy" in rule.components and "source_accuracy" not in values:
            ranking.notes.append(f"{SOURCE_ACCURACY_NOTE} {metric}: {why}")
        scores, used = recommended_scores(values, rule.aggregate)
        for c, value in zip(ranked, scores):
            c.scores[metric] = value
        if metric == "recommended":
            ranking.recommended_components = used
    ranking.set_relative = relative
    note = SET_RELATIVE_NOTE.format(names=" and ".join(relative))
    ranking.notes = [n for n in ranking.notes if not n.endswith(SET_RELATIVE_NOTE.format(names="")[1:])]
    if relative:
        ranking.notes.append(note)
    return ranking


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def select_samples(labels: np.ndarray, num_samples: int | None, seed: int = 0) -> np.ndarray:
    """Indices of ``num_samples`` examples, class-balanced (round robin over classes in random order)."""
    n = len(labels)
    if num_samples is None or num_samples >= n:
        return np.arange(n)
    if num_samples < 1:
        raise HfnetError(f"--num-samples must be at least 1, got {num_samples}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    within = np.zeros(n, dtype=np.int64)
    seen: dict[int, int] = {}
    for i in order:
        within[i] = seen.get(int(labels[i]), 0)
        seen[int(labels[i])] = within[i] + 1
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    chosen = sorted(range(n), key=lambda i: (within[i], position[i]))[:num_samples]
    return np.sort(np.asarray(chosen))


def forward_outputs(classifier, dataset, *, batch_size: int = 64, progress: bool = True) -> tuple[np.ndarray, ...]:
    """Logits ``[N, n_s]`` and penultimate features ``[N, D]`` of ``classifier`` on a raw image/label dataset.

    One forward pass per batch (:meth:`HubClassifier.logits_and_features`), in the model's own preprocessing.
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from hfnet.data import collate_fn
    from hfnet.preprocessing import with_model_transform

    loader = DataLoader(
        with_model_transform(dataset, classifier.preprocessing), batch_size=batch_size, collate_fn=collate_fn
    )
    classifier.eval()
    logits, features = [], []
    device = classifier.device
    with torch.inference_mode():
        for batch in tqdm(loader, desc="batches", leave=False, disable=not progress):
            lg, ft = classifier.logits_and_features(batch["pixel_values"].to(device))
            logits.append(lg.float().cpu().numpy())
            features.append(ft.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(features)


def _message(exc: BaseException) -> str:
    if isinstance(exc, HfnetError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}"


def _candidate_name(candidate: Any) -> str:
    if hasattr(candidate, "logits_and_features"):
        return str(getattr(candidate, "source", None) or type(candidate.model).__name__)
    return str(candidate)


def rank_models(
    candidates: Sequence[Any],
    dataset,
    *,
    metrics: list[str] | None = None,
    word_vectors: Any = None,
    class_map: dict[str, str] | None = None,
    combine: Combine = "sum",
    num_samples: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    names: Sequence[str] | None = None,
    progress: bool = True,
    loader: Callable[[str], Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    process_index: int = 0,
    num_processes: int = 1,
    reported: dict[str, dict[str, Any]] | None = None,
) -> Ranking:
    """Score every candidate on a labelled target dataset without fine-tuning.

    Args:
        candidates: Hub ids, local Hub-format folders, or loaded :class:`hfnet.hub.HubClassifier` objects.
        dataset: a ``datasets.Dataset`` with ``image`` and ClassLabel ``label`` columns (one split of
            :func:`hfnet.data.load_image_dataset`).
        metrics: score names from :data:`hfnet.ranking.METRICS` (all when None).
        word_vectors: a gensim ``KeyedVectors``, or what :func:`load_word_vectors` accepts (default GloVe 6B 50d).
        class_map: class name -> words, for names the vectors do not know (target and source classes).
        combine: ``"sum"`` (paper) or ``"mean"`` of a multi-word name's vectors.
        num_samples: score on this many class-balanced target images (all when None).
        batch_size: forward-pass batch size.
        seed: picks the samples.
        names: display names for the candidates (default: the id / path / source).
        progress: show tqdm bars over candidates and batches.
        loader: loads a candidate given as a string (default :func:`hfnet.classifier.load_classifier`).
        cache_dir: keep each candidate's logits and features here (:class:`hfnet.ranking.cache.FeatureCache`),
            keyed by candidate revision / content, dataset fingerprint and samples; a cached candidate is neither
            loaded nor run.
        process_index, num_processes: score only the candidates ``i`` with ``i % num_processes == process_index``
            (one shard of a multi-process run; :func:`hfnet.ranking.job.rank_job` gathers the shards).
        reported: display name -> what the candidate says about itself (``source_accuracy`` in [0, 1],
            ``source_dataset``, ``downloads``), over what its card's model-index reports
            (:func:`hfnet.ranking.reported.reported_info`); shown in their own columns, used by ``recommended``.

    Returns:
        A :class:`Ranking`; failed candidates keep their error message and no scores. ``CandidateResult.index`` is
        the candidate's position in ``candidates``.

    Raises:
        HfnetError: unknown metric, empty dataset, fewer than two target classes, or (when EMD was asked for by
            name) target class names without word vectors.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    chosen = get_metrics(metrics)
    target = _target_samples(dataset, num_samples, seed)
    if not candidates:
        raise HfnetError("no candidates to rank; pass --candidates and/or --search")
    chosen, words = _word_vectors(chosen, metrics, word_vectors, target.classes, combine, class_map)
    ranking = _empty_ranking(chosen, target, words)
    display = _display_names(candidates, names)
    mine = _shard(len(candidates), process_index, num_processes)
    if loader is None:
        from hfnet.classifier import load_classifier as loader
    scoring = _Scoring(target, chosen, words, combine, class_map, batch_size, progress, loader)
    if cache_dir is not None:
        from hfnet.ranking.cache import FeatureCache, dataset_fingerprint

        scoring.cache, scoring.data_id = FeatureCache(cache_dir), dataset_fingerprint(dataset, target.index)
    bar = tqdm(mine, desc="candidates", disable=not progress)
    for i in bar:
        bar.set_postfix_str(display[i][-40:])
        said = {**reported_info(candidates[i]), **((reported or {}).get(display[i]) or {})}
        result = CandidateResult(name=display[i], index=i, process=process_index, reported=said)
        ranking.candidates.append(_rank_candidate(candidates[i], result, scoring))
    ranking.seconds = time.perf_counter() - start
    return finalise(ranking)


def _empty_ranking(chosen: list[Metric], target: _Target, words: _Words) -> Ranking:
    """The ranking of the chosen scores on the target samples, before any candidate is scored."""
    return Ranking(
        metrics=[m.name for m in chosen],
        higher_is_better={m.name: m.higher_is_better for m in chosen},
        candidates=[],
        num_samples=len(target.labels),
        num_target_classes=target.num_present,
        target_classes=target.classes,
        word_vectors=words.name,
        target_oov=words.target_oov,
        notes=[words.note] if words.note else [],
    )


def _display_names(candidates: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    """The candidates' display names: ``names`` (one per candidate) or each one's id / path / source."""
    display = list(names) if names is not None else [_candidate_name(c) for c in candidates]
    if len(display) != len(candidates):
        raise HfnetError(f"{len(display)} names given for {len(candidates)} candidates")
    return display


def _shard(num_candidates: int, process_index: int, num_processes: int) -> list[int]:
    """The candidate indices process ``process_index`` of ``num_processes`` scores: ``i % num_processes``."""
    if not 0 <= process_index < num_processes:
        raise HfnetError(f"process_index {process_index} outside [0, {num_processes})")
    return [i for i in range(num_candidates) if i % num_processes == process_index]


@dataclass
class _Scoring:
    """What every candidate of one :func:`rank_models` call is run and scored with."""

    target: _Target
    chosen: list[Metric]
    words: _Words
    combine: Combine
    class_map: dict[str, str] | None
    batch_size: int
    progress: bool
    loader: Callable[[str], Any]
    cache: Any = None
    data_id: str | None = None
    source_cache: dict[tuple[str, ...], Any] = field(default_factory=dict)  # source class names -> their vectors


def _rank_candidate(candidate: Any, result: CandidateResult, run: _Scoring) -> CandidateResult:
    """One candidate's forward outputs and scores into ``result``; a candidate that fails keeps its error instead."""
    t0 = time.perf_counter()
    try:
        outputs = _outputs(
            candidate, result.name, run.target.subset, run.batch_size, run.progress, run.loader, run.cache,
            run.data_id, result,
        )  # fmt: skip
    except Exception as e:  # noqa: BLE001 - report and go on with the other candidates
        result.error = _message(e)
        logger.warning("candidate %s skipped: %s", result.name, result.error)
    else:
        _score_candidate(
            result, outputs, run.target.labels, run.chosen, run.words, run.combine, run.class_map, run.source_cache
        )
    result.seconds = time.perf_counter() - t0
    return result


@dataclass
class _Target:
    """The scored target samples: their rows, labels, the dataset's class names and how many of them occur."""

    subset: Any
    index: np.ndarray
    labels: np.ndarray
    classes: list[str]
    num_present: int


def _target_samples(dataset, num_samples: int | None, seed: int) -> _Target:
    """The class-balanced target samples to score on; refuses an empty dataset or fewer than two classes."""
    from hfnet.data import class_names as dataset_class_names

    if len(dataset) == 0:
        raise HfnetError("the target dataset is empty; pass a split with labelled images")
    classes = dataset_class_names(dataset)
    labels_all = np.asarray(dataset["label"], dtype=np.int64)
    index = select_samples(labels_all, num_samples, seed)
    subset = dataset.select(index.tolist()) if len(index) < len(dataset) else dataset
    labels = labels_all[index]
    present = np.unique(labels)
    if len(present) < 2:
        raise HfnetError(
            f"the target samples hold {len(present)} class(es) ({[classes[i] for i in present]}); ranking "
            "needs at least two classes (use more samples or another split)"
        )
    return _Target(subset, index, labels, classes, len(present))


@dataclass
class _Words:
    """Word vectors for the class-name scores (all None when no chosen score uses class names)."""

    metrics: list[Any] = field(default_factory=list)
    vectors: Any = None
    target: Any = None
    target_oov: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    note: str | None = None


def _word_vectors(chosen, asked, word_vectors, target_classes, combine, class_map) -> tuple[list[Any], _Words]:
    """Loads the word vectors when a chosen score uses class names; without them, the EMD scores are dropped with a
    note, unless they were asked for by name (then the error stands: the user fixes the names)."""
    words = _Words(metrics=[m for m in chosen if m.needs_class_names or m.uses_class_names])
    if not words.metrics:
        return chosen, words
    try:
        if word_vectors is None or isinstance(word_vectors, str | os.PathLike):
            words.name = str(word_vectors or "glove-6b-50d")
            words.vectors = load_word_vectors(word_vectors)
        else:
            words.vectors, words.name = word_vectors, type(word_vectors).__name__
        words.target = class_vectors(target_classes, words.vectors, combine=combine, class_map=class_map)
        words.target_oov = words.target.oov
    except HfnetError as e:
        if asked and any(m.needs_class_names for m in chosen):
            raise
        note = f"word-vector EMD skipped for every candidate: {e}"
        if any(m.uses_class_names for m in chosen):
            note += " (sem_logme computed without class names: it equals LogME)"
        logger.warning(note)
        return [m for m in chosen if not m.needs_class_names], _Words(name=words.name, note=note)
    return chosen, words


def _score_candidate(result, outputs, labels, chosen, words: _Words, combine, class_map, source_cache) -> None:
    """Every chosen score of one candidate from its forward outputs, each timed; set-relative ones keep their terms."""
    t_scores = time.perf_counter()
    result.num_source_classes = int(outputs.logits.shape[1])
    result.num_params = outputs.num_params
    inputs = ScoreInputs(probs=softmax(outputs.logits), features=outputs.features, labels=labels)
    if words.metrics:
        inputs.distances = _distances(
            outputs.class_names, words.vectors, words.target, combine, class_map, source_cache, result
        )
    with _one_blas_thread():
        for metric in chosen:
            t_metric = time.perf_counter()
            if metric.set_relative:
                _terms(metric, inputs, result)
            else:
                result.scores[metric.name] = _score(metric, inputs, result)
            result.metric_seconds[metric.name] = time.perf_counter() - t_metric
    result.score_seconds = time.perf_counter() - t_scores


def _outputs(candidate, name, subset, batch_size, progress, loader, cache, data_id, result: CandidateResult):
    """The candidate's forward outputs: from the cache when there, else loaded, run and (when caching) stored."""
    from hfnet.ranking.cache import CachedOutputs, candidate_fingerprint

    key = None
    if cache is not None:
        fingerprint = candidate_fingerprint(candidate)
        if fingerprint is not None:
            key = cache.key(fingerprint, data_id)
            hit = cache.load(key)
            if hit is not None:
                result.cached = True
                return hit
    classifier = loader(str(candidate)) if isinstance(candidate, str | os.PathLike) else candidate
    t_forward = time.perf_counter()
    logits, features = forward_outputs(classifier, subset, batch_size=batch_size, progress=progress)
    result.forward_seconds = time.perf_counter() - t_forward
    result.forward_batches = -(-len(subset) // batch_size)
    outputs = CachedOutputs(
        logits=logits,
        features=features,
        num_params=int(sum(p.numel() for p in classifier.parameters())),
        class_names=list(classifier.class_names) if classifier.class_names else None,
    )
    if key is not None:
        cache.save(key, outputs, description=name)  # at once: a later failure or interruption keeps it
    return outputs


def _distances(names, kv, target_vectors, combine, class_map, cache, result: CandidateResult):
    if not names:
        result.warnings.append("no class names: word-vector EMD skipped (every other score computed)")
        logger.warning("candidate %s has no class names: word-vector EMD skipped", result.name)
        return None
    key = tuple(names)
    if key not in cache:
        try:
            cache[key] = class_vectors(list(names), kv, combine=combine, class_map=class_map)
        except HfnetError as e:
            cache[key] = e
    source = cache[key]
    if isinstance(source, HfnetError):
        result.warnings.append(f"word-vector EMD skipped: {source}")
        logger.warning("candidate %s: word-vector EMD skipped: %s", result.name, source)
        return None
    if source.oov:
        result.warnings.append(f"{len(source.oov)} source class names have out-of-vocabulary words")
    return class_distances(source, target_vectors)


def _one_blas_thread():
    """The scores multiply matrices of a few hundred rows: one BLAS thread is as fast, and avoids OpenBLAS threads
    spin-waiting against torch's on a busy CPU (seen: a 100 x 1280 SVD taking 3 s instead of 0.02 s)."""
    controller = _blas_controller()
    if controller is None:  # threadpoolctl is optional (scikit-learn brings it)
        import contextlib

        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """One threadpoolctl controller for the process. Finding the loaded BLAS libraries reads /proc/self/maps, about
    5 ms a call: half the scoring time of a small candidate when it was done per candidate. numpy's and scipy's BLAS
    are loaded first, so the controller sees both."""
    try:
        import scipy.linalg  # noqa: F401 - loads scipy's BLAS before the libraries are listed
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _terms(metric: Metric, inputs: ScoreInputs, result: CandidateResult) -> None:
    from hfnet.ranking.metrics import metric_terms

    result.scores[metric.name] = None
    try:
        with np.errstate(all="ignore"):
            terms = metric_terms(metric, inputs)
    except Exception as e:  # noqa: BLE001 - one score failing on one candidate is a note, never an abort
        result.warnings.append(f"{metric.name} failed: {_message(e)}")
        logger.warning("candidate %s: %s failed: %s", result.name, metric.name, _message(e))
        return
    if terms is not None:
        if all(np.isfinite(v) for v in terms.values()):
            result.terms[metric.name] = terms
        else:
            result.warnings.append(f"{metric.name} failed: not finite ({terms})")


def _score(metric: Metric, inputs: ScoreInputs, result: CandidateResult) -> float | None:
    if metric.needs_class_names and inputs.distances is None:
        return None
    try:
        with np.errstate(all="ignore"):
            value = float(metric.fn(inputs))
    except Exception as e:  # noqa: BLE001 - one score failing on one candidate is a note, never an abort
        result.warnings.append(f"{metric.name} failed: {_message(e)}")
        logger.warning("candidate %s: %s failed: %s", result.name, metric.name, _message(e))
        return None
    if not np.isfinite(value):
        result.warnings.append(f"{metric.name} failed: not finite ({value})")
        return None
    return value
