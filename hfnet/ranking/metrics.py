"""The registry of ranking scores: users pick them by name (``hfnet rank --metrics logme leep``).

Every score reads the same :class:`ScoreInputs`, filled from one forward pass of the candidate over the target
images, so adding a score never adds a forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import left_spectrum
from hfnet.ranking._validate import as_features
from hfnet.ranking.emd import word_vector_emd, word_vector_emd_mean
from hfnet.ranking.etran import energy_score, etran, lda_posteriors, lda_score
from hfnet.ranking.hscore import REFERENCE_RTOL, h_score, shrinkage_h_score
from hfnet.ranking.knn import knn_accuracy
from hfnet.ranking.leep import leep
from hfnet.ranking.logme import logme, unit_scale
from hfnet.ranking.nce import nce
from hfnet.ranking.ncti import ncti_terms
from hfnet.ranking.nleep import nleep
from hfnet.ranking.parc import parc
from hfnet.ranking.recommended import RULE_BY_METRIC
from hfnet.ranking.semantic import semantic_logme
from hfnet.ranking.sfda import sfda
from hfnet.ranking.softmax_max import softmax_max, softmax_max_mean
from hfnet.ranking.transrate import transrate


@dataclass
class ScoreInputs:
    """What one forward pass of a candidate over the target samples gives.

    Attributes:
        probs: ``[N, n_s]`` softmax of the source logits.
        features: ``[N, D]`` penultimate features (the classifier head's input).
        labels: ``[N]`` target class indices.
        distances: ``[n_s, n_t]`` class-name word-vector distances, or None when the candidate has no class names.
    """

    probs: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    distances: np.ndarray | None = None
    shared: dict = field(default_factory=dict)

    def spectrum(self, of: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`left_spectrum` of the features, computed once per candidate: ``"centred"`` (H-score, its shrinkage
        form, PARC's PCA) or ``"unit"``, at unit RMS row norm (LogME, the semantic score)."""
        key = f"spectrum/{of}"
        if key not in self.shared:
            f = as_features(self.features)
            if of == "centred":
                f = f - f.mean(axis=0, keepdims=True)
            elif of == "unit":
                f = unit_scale(f)
            else:
                raise ValueError(f"spectrum of 'centred' or 'unit' features, not {of!r}")
            self.shared[key] = left_spectrum(f)
        return self.shared[key]

    def lda(self) -> tuple[np.ndarray, float]:
        """The shrinkage LDA posteriors on the centred features, fitted once for SFDA and ETran."""
        if "lda" not in self.shared:
            self.shared["lda"] = lda_posteriors(self.features, self.labels)
        return self.shared["lda"]


@dataclass(frozen=True)
class Metric:
    """A registered score: ``fn`` reads :class:`ScoreInputs`; ``needs_class_names``: no value without names;
    ``uses_class_names``: uses the word-vector distances when there are any (and still scores without)."""

    name: str
    fn: Callable[[ScoreInputs], float]
    higher_is_better: bool
    needs_class_names: bool
    description: str
    uses_class_names: bool = False
    default: bool = True
    set_relative: bool = False


def _set_relative(inputs: ScoreInputs) -> float:
    raise HfnetError("a set-relative score is computed from every candidate's terms (hfnet.ranking.ranker.finalise)")


def _needs_distances(fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float]) -> Callable[[ScoreInputs], float]:
    def score(inputs: ScoreInputs) -> float:
        if inputs.distances is None:
            raise HfnetError("word-vector EMD needs the candidate's class names and word vectors for them")
        return fn(inputs.probs, inputs.labels, inputs.distances)

    return score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("softmax_max", lambda s: softmax_max(s.probs), True, False, "sum_i max_k softmax (seed 003)"),
        Metric("softmax_max_mean", lambda s: softmax_max_mean(s.probs), True, False, "mean_i max_k softmax"),
        Metric("emd", _needs_distances(word_vector_emd), False, True, "sum_i f(x_i)^T d[:, t_i] (seed 003)"),
        Metric("emd_mean", _needs_distances(word_vector_emd_mean), False, True, "EMD divided by N"),
        Metric("leep", lambda s: leep(s.probs, s.labels), True, False, "LEEP (Nguyen et al. 2020)"),
        Metric("nce", lambda s: nce(s.probs, s.labels), True, False, "NCE (Tran et al. 2019)"),
        Metric(
            "hscore",
            lambda s: h_score(s.features, s.labels, spectrum=s.spectrum("centred")),
            True,
            False,
            "H-score (Bao et al. 2019)",
        ),
        Metric(
            "hscore_shrinkage",
            lambda s: shrinkage_h_score(s.features, s.labels, spectrum=s.spectrum("centred")),
            True,
            False,
            "Ledoit-Wolf shrinkage H-score (Ibrahim et al. 2023)",
        ),
        Metric(
            "logme",
            lambda s: logme(s.features, s.labels, spectrum=s.spectrum("unit")),
            True,
            False,
            "LogME (You et al. 2021)",
        ),
        Metric(
            "nleep",
            lambda s: nleep(s.features, s.labels),
            True,
            False,
            "GMM LEEP (Li et al. 2021); by name only: its mixture fit alone cost 30% of the forward passes",
            default=False,
        ),
        Metric("sfda", lambda s: sfda(s.features, s.labels, first=s.lda()), True, False, "SFDA (Shao et al. 2022)"),
        Metric(
            "parc",
            lambda s: parc(s.features, s.labels, spectrum=s.spectrum("centred")),
            True,
            False,
            "PARC (Bolya et al. 2021)",
        ),
        Metric(
            "ncti",
            _set_relative,
            True,
            False,
            "NCTI (Wang et al. 2023), normalised over the candidate set",
            set_relative=True,
        ),
        Metric(
            "etran",
            lambda s: etran(s.features, s.labels, posteriors=s.lda()),
            True,
            False,
            "ETran energy + LDA (Gholami et al. 2023)",
        ),
        Metric(
            "etran_reference",
            _set_relative,
            True,
            False,
            "ETran as the authors' code combines it: 0.15 minmax(energy) + 0.85 minmax(LDA), over the candidate set",
            set_relative=True,
        ),
        Metric(
            "etran_energy",
            lambda s: energy_score(s.features),
            True,
            False,
            "ETran's label-free energy term",
            default=False,
        ),
        Metric(
            "etran_lda",
            lambda s: lda_score(s.features, s.labels, posteriors=s.lda()),
            True,
            False,
            "ETran's LDA classification term",
            default=False,
        ),
        Metric(
            "recommended",
            _set_relative,
            False,
            False,
            "hfnet's pre-registered mean rank of leep, ncti, knn and the reported source accuracy (when every "
            "candidate reports it on one dataset)",
            set_relative=True,
        ),
        Metric(
            "recommended_v3",
            _set_relative,
            False,
            False,
            "hfnet's third pre-registered rule: the mean rank of logme, leep, ncti and the source accuracy (on one "
            "dataset); by name only",
            set_relative=True,
            default=False,
        ),
        Metric(
            "recommended_v1",
            _set_relative,
            False,
            False,
            "hfnet's first pre-registered rule: the same four ranks, the source accuracy whatever its dataset; by name",
            set_relative=True,
            default=False,
        ),
        Metric(
            "recommended_v2",
            _set_relative,
            False,
            False,
            "hfnet's second pre-registered rule: the median of the same four component ranks; by name only",
            set_relative=True,
            default=False,
        ),
        Metric("transrate", lambda s: transrate(s.features, s.labels), True, False, "TransRate (Huang et al. 2022)"),
        Metric("knn", lambda s: knn_accuracy(s.features, s.labels), True, False, "leave-one-out k-NN (Sorkhei 2025)"),
        Metric(
            "sem_logme",
            lambda s: float(semantic_logme(s.features, s.probs, s.labels, s.distances, spectrum=s.spectrum("unit"))),
            True,
            False,
            "LogME + class-name semantic evidence (hfnet)",
            uses_class_names=True,
        ),
        Metric(
            "logme_reference",
            lambda s: logme(s.features, s.labels, reference=True),
            True,
            False,
            "LogME exactly as thuml/LogME (11 iterations, its formula when D > N)",
            default=False,
        ),
        Metric(
            "hscore_reference",
            lambda s: h_score(s.features, s.labels, rtol=REFERENCE_RTOL),
            True,
            False,
            "H-score with the reference's pinv(rcond=1e-15)",
            default=False,
        ),
    )
}
DEFAULT_METRICS = [name for name, m in METRICS.items() if m.default]


# what the set-relative scores are computed from (added to the metrics computed when they are asked for)
NEEDS = {r.metric: tuple(c for c in r.components if c != "source_accuracy") for r in RULE_BY_METRIC.values()}


def get_metrics(names: list[str] | None) -> list[Metric]:
    """The metrics called ``names`` (the defaults when None), with a clear error for an unknown one; ``recommended``
    brings the scores it combines (computed first)."""
    if not names:
        names = DEFAULT_METRICS
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise HfnetError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    expanded: list[str] = []
    for n in names:
        expanded += [*NEEDS.get(n, ()), n]
    return [METRICS[n] for n in dict.fromkeys(expanded)]


def metric_terms(metric: Metric, inputs: ScoreInputs) -> dict[str, float] | None:
    """The per-candidate terms a set-relative metric is computed from (None for a plain metric)."""
    if metric.name == "ncti":
        return ncti_terms(inputs.features, inputs.labels)
    if metric.name == "etran_reference":
        return {
            "energy": energy_score(inputs.features),
            "lda": lda_score(inputs.features, inputs.labels, posteriors=inputs.lda()),
        }
    return None
