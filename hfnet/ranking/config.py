"""Settings of a ranking job (``hfnet rank`` and ``recipes/rank_models.py`` parse them beside the dataset options).

Torch-free: importing this module loads numpy and the score registry only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hfnet.errors import HfnetError
from hfnet.ranking.metrics import DEFAULT_METRICS, METRICS

__all__ = ["BEST_VALIDATED", "PREFERENCE", "RankingConfig"]

# The default sort and the recommended pick: hfnet's pre-registered rank combination (hfnet/ranking/recommended.py,
# fixed before it was run on the benchmark's held-out targets), then the single scores in order of their mean Kendall
# tau against fine-tuned accuracy in the previous benchmark (12 candidates x 6 targets): logme 0.63, sem_logme 0.63,
# leep 0.62, nleep 0.61, nce 0.56, knn 0.51, softmax_max 0.47, parc 0.41, transrate 0.39, sfda 0.37, hscore 0.32,
# hscore_shrinkage 0.27, emd -0.04 (ncti and etran were not in it). The first one computed is used.
PREFERENCE = (
    "recommended",
    "logme",
    "sem_logme",
    "leep",
    "nleep",
    "ncti",
    "etran",
    "nce",
    "knn",
    "softmax_max",
    "parc",
    "transrate",
    "sfda",
    "hscore",
    "hscore_shrinkage",
    "logme_reference",
)
BEST_VALIDATED = PREFERENCE[0]
VALIDATION = "hfnet's pre-registered rank combination (README: ranking)"
SINGLE_VALIDATION = "the single score with the highest mean Kendall tau in the previous benchmarks/ranking run"


@dataclass
class RankingConfig:
    """What to rank and how (every option of the rank job except the dataset's).

    Scores come from one forward pass per candidate; with ``cache_dir`` the forward outputs are kept per
    (candidate and its revision or folder content, dataset fingerprint, samples, preprocessing), so re-scoring or
    resuming costs no forward pass. Under ``accelerate launch`` the candidates are split across processes and one
    table comes out.
    """

    candidates: list[str] = field(
        default_factory=list, metadata={"help": "Hub ids (owner/name, hf-hub:timm/...) or local Hub-format folders."}
    )
    search: str | None = field(
        default=None, metadata={"help": "Also rank the Hub's most downloaded image classifiers matching this text."}
    )
    limit: int = field(default=5, metadata={"help": "How many --search results to rank."})
    max_params: float | None = field(
        default=None,
        metadata={
            "help": "Skip --search results with more parameters than this (e.g. 3e7); results of unknown size are "
            "skipped too. The list of what will be downloaded, with sizes, is shown before any download."
        },
    )
    metrics: list[str] | None = field(
        default=None,
        metadata={
            "help": f"Scores to compute (default: {', '.join(DEFAULT_METRICS)}; also logme_reference and "
            "hscore_reference, the reference code's exact behaviour).",
            "choices": tuple(METRICS),
        },
    )
    sort_by: str | None = field(
        default=None,
        metadata={
            "help": f"Order the table by this score (default: the best-validated computed score, {BEST_VALIDATED})."
        },
    )
    num_samples: int | None = field(
        default=500, metadata={"help": "Class-balanced target images to score on (all when unset)."}
    )
    batch_size: int = field(default=64, metadata={"help": "Forward-pass batch size (does not change the scores)."})
    seed: int = field(default=0, metadata={"help": "Picks the class-balanced target samples."})
    word_vectors: str | None = field(
        default=None,
        metadata={"help": "glove-6b-50d (default, offline), a gensim-data name (online) or a local vectors file."},
    )
    class_map: str | None = field(
        default=None,
        metadata={"help": 'JSON {"class name": "words"} or "name<TAB>words" lines for names the vectors lack.'},
    )
    combine: str = field(
        default="sum",
        metadata={
            "help": "Multi-word class names: sum (paper) or mean of the word vectors.",
            "choices": ("sum", "mean"),
        },
    )
    cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Keep each candidate's forward outputs here; a later run with other scores costs no forward."
        },
    )
    json: str | None = field(default=None, metadata={"help": "Write the ranking as JSON here."})
    plot: str | None = field(default=None, metadata={"help": "Write a PNG of the scores here."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        self.candidates = [str(c) for c in (self.candidates or [])]
        if self.limit < 1:
            raise HfnetError(f"limit must be at least 1, got {self.limit}")
        if self.max_params is not None and self.max_params <= 0:
            raise HfnetError(f"max_params must be positive, got {self.max_params}")
        if self.num_samples is not None and self.num_samples < 2:
            raise HfnetError(f"num_samples must be at least 2 (two classes), got {self.num_samples}")
        if self.batch_size < 1:
            raise HfnetError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.combine not in ("sum", "mean"):
            raise HfnetError(f"combine must be 'sum' or 'mean', got {self.combine!r}")
        if self.metrics is not None:
            self.metrics = list(self.metrics)
            unknown = [m for m in self.metrics if m not in METRICS]
            if unknown:
                raise HfnetError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
            if not self.metrics:
                self.metrics = None
        if self.sort_by is not None:
            if self.sort_by not in METRICS:
                raise HfnetError(f"sort_by {self.sort_by!r} is not a score; choose from {', '.join(METRICS)}")
            if self.sort_by not in self.metric_names:
                raise HfnetError(
                    f"sort_by {self.sort_by} is not among the scores computed ({', '.join(self.metric_names)})"
                )

    @property
    def metric_names(self) -> list[str]:
        """The scores this job computes (the defaults when ``metrics`` is unset)."""
        return list(dict.fromkeys(self.metrics)) if self.metrics else list(DEFAULT_METRICS)

    def default_sort(self, computed: list[str] | None = None) -> str:
        """``sort_by``, else the best-validated score among ``computed`` (else the first computed)."""
        names = computed if computed is not None else self.metric_names
        if self.sort_by is not None and self.sort_by in names:
            return self.sort_by
        return next((m for m in PREFERENCE if m in names), names[0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
