"""NCTI, the Neural Collapse Transferability Index (Wang, Luo, Zheng, Huang, Baktashmotlagh, ICCV 2023, "How far
pre-trained models are from neural collapse on the target dataset informs their transferability",
https://openaccess.thecvf.com/content/ICCV2023/html/Wang_How_Far_Pre-trained_Models_Are_from_Neural_Collapse_on_the_ICCV_2023_paper.html).

The paper scores how far a candidate's target features are from the geometry fine-tuning drives them to (neural
collapse), through its three phenomena, and adds the three terms after normalising each over the candidate set:

- within-class variability collapse: ``S_vc = -tr(S_w) / tr(S_b)`` (within- over between-class scatter; 0 when every
  class has collapsed to its mean);
- simplex / label-interpolation geometry of the class means: ``S_seli = ||M||_*^2 / (r ||M||_F^2)`` for the centred
  class-mean matrix M of rank r <= K - 1 (1 when its r non-zero singular values are equal, as for a simplex ETF);
- nearest-centre classification: ``S_ncc = (1/N) sum_i log p(y_i | x_i)`` with ``p(c | x) ∝ n_c exp(-|x - mu_c|^2 /
  (2 s^2))`` and ``s^2 = tr(S_w) / D`` the mean within-class variance per dimension.

``NCTI = sum_t (S_t - min S_t) / (max S_t - min S_t)`` over the candidates ranked together (0 for a term that is
equal for all of them, where the authors' code divides by zero). **The value of a candidate therefore depends on the
other candidates**: adding or removing one changes every value (the ranking table and JSON say so).

hfnet computes each term in closed form from traces, class means and distances (O(N D K), no D x D matrix, no PCA),
so every term is invariant to a common offset and scale of the features, a rotation of them, the order of the
samples, duplicating every sample and renaming the labels; no tuned constants.

**These are not the authors' formulas.** The authors' code (github.com/BUserName/NCTI, ``metrics.py: NCTI_Score``
and ``evaluate_metric_group1_cpu.py``) reads all three terms off one shrinkage LDA fitted on a 64-component PCA of the
features, the shrinkage being ``max(exp(-sum of the 32 largest PCA variances), 1e-10)`` (sklearn's ``eigen`` solver;
its ``svd`` solver, unshrunk, when that floor is hit, as it is for features of unit-order variance in 32+
dimensions): ``S_seli = ||H||_*``, the nuclear norm of the centred LDA projection of all samples; ``S_ncc`` = the mean
LDA posterior of the true class (no log); and ``log sum_c ||P_c||_*`` over the class-wise LDA posterior matrices,
*subtracted* (the paper writes ``S_vc = -sum_c ||Z_c||_*``): ``NCTI = n(S_seli) + n(S_ncc) - n(log sum_c ||P_c||_*)``
with ``n`` the same min-max normalisation over the candidates. :func:`reference_ncti_terms` computes those terms
(with ``vc = -log sum_c ||P_c||_*``, so :func:`ncti` of them is the authors' value plus 1 for every candidate: the
same order and differences). hfnet's default ``ncti`` keeps the closed-form terms above: the pre-registered
recommended score (commit ``0a4da7d``) was fixed and benchmarked with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._linalg import class_sums
from hfnet.ranking._validate import as_features, as_labels, dense_labels

TERMS = ("vc", "seli", "ncc")
# the authors' NCTI_Score: PCA(n_components=64), shrinkage from the 32 largest PCA variances, floor 1e-10
REFERENCE_COMPONENTS = 64
REFERENCE_SHRINKAGE_COMPONENTS = 32
REFERENCE_MIN_SHRINKAGE = 1e-10


def ncti_terms(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The three per-candidate terms ``{"vc", "seli", "ncc"}`` (module docstring), higher = closer to collapse."""
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n, d = f.shape
    k = int(y.max()) + 1
    if k < 2:
        raise HfnetError("NCTI needs at least two target classes")
    f = f - f.mean(axis=0, keepdims=True)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    means = class_sums(f, y, k) / counts[:, None]
    within = float(np.sum((f - means[y]) ** 2)) / n  # tr(S_w)
    between = float(np.sum(counts[:, None] * means**2)) / n  # tr(S_b) (the features are centred)
    if between <= 0:
        raise HfnetError("NCTI: the class means coincide (the features do not separate any class)")
    if within <= 0:
        raise HfnetError("NCTI: the features do not vary within any class (all samples of a class identical)")
    s = np.linalg.svd(means - means.mean(axis=0, keepdims=True), compute_uv=False)
    s = s[s > s.max() * max(k, d) * np.finfo(np.float64).eps]
    seli = float(s.sum() ** 2 / (len(s) * np.sum(s**2)))
    var = within / d
    sq = np.sum(f**2, axis=1, keepdims=True) - 2 * f @ means.T + np.sum(means**2, axis=1)[None, :]
    logits = -np.maximum(sq, 0.0) / (2 * var) + np.log(counts / n)[None, :]
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return {"vc": -within / between, "seli": seli, "ncc": float(log_p[np.arange(n), y].mean())}


def reference_ncti_terms(features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The three terms as the authors' ``NCTI_Score`` computes them (module docstring), higher = closer to collapse.

    PCA to ``min(64, N, D)`` components (the authors' 64 needs N, D >= 64; hfnet's PCA is exact, sklearn's default
    may be randomised for large inputs), shrinkage ``s = max(exp(-sum of the 32 largest PCA variances), 1e-10)``,
    sklearn's LDA (``eigen`` solver with shrinkage s, or ``svd`` when s is at its floor); then ``seli`` = nuclear norm
    of the centred LDA projection, ``ncc`` = mean posterior of the true class, ``vc = -log sum_c ||P_c||_*`` with
    ``P_c`` the posteriors of class c's samples. Depends on the scale of the features (through s), as theirs does.
    The ``svd`` branch is the installed scikit-learn's: it divides the within-class scatter by N since
    scikit-learn PR 33626 (2026), by N - K in the releases of the authors' time; that is a common factor of ``seli``,
    which the normalisation over candidates removes, and a slightly sharper posterior.
    """
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    k = int(y.max()) + 1
    if k < 2:
        raise HfnetError("NCTI needs at least two target classes")
    pca = PCA(n_components=min(REFERENCE_COMPONENTS, *f.shape), svd_solver="full")
    x = pca.fit_transform(f)
    shrinkage = max(
        float(np.exp(-pca.explained_variance_[:REFERENCE_SHRINKAGE_COMPONENTS].sum())), REFERENCE_MIN_SHRINKAGE
    )
    if shrinkage == REFERENCE_MIN_SHRINKAGE:
        lda = LinearDiscriminantAnalysis(solver="svd")
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
    low = lda.fit_transform(x, y)
    low = low - low.mean(axis=0, keepdims=True)
    prob = lda.predict_proba(x)
    within = sum(np.linalg.norm(prob[y == c], ord="nuc") for c in range(k))
    return {
        "vc": -float(np.log(within)),
        "seli": float(np.linalg.norm(low, ord="nuc")),
        "ncc": float(prob[np.arange(len(y)), y].mean()),
    }


def ncti(terms: Sequence[dict[str, float] | None]) -> list[float | None]:
    """NCTI of each candidate from the terms of all of them (None where a candidate has none): the sum over the three
    terms of their min-max normalisation over the candidates that have terms."""
    present = [t for t in terms if t is not None]
    out: list[float | None] = [None if t is None else 0.0 for t in terms]
    for name in TERMS:
        values = np.array([t[name] for t in present], dtype=np.float64)
        if values.size == 0:
            break
        low, span = float(values.min()), float(values.max() - values.min())
        for i, t in enumerate(terms):
            if t is not None and span > 0:
                out[i] += (t[name] - low) / span
    return out
