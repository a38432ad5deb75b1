"""Leave-one-out k-nearest-neighbour accuracy on the features (Sorkhei, Matsoukas, Fredin Haslum, Konuk, Smith,
"k-NN as a simple and effective estimator of transferability", TMLR 2025, https://arxiv.org/abs/2503.18528)."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError
from hfnet.ranking._validate import as_features, as_labels, dense_labels

# similarities held at once: rows per block = BLOCK_ELEMENTS // N (8M float64 = 64 MB)
BLOCK_ELEMENTS = 8 * 1024 * 1024


def knn_accuracy(features: np.ndarray, labels: np.ndarray, *, k: int = 20, temperature: float = 0.07) -> float:
    """Fraction of samples whose label the k nearest *other* samples predict (higher = more transferable).

    The k-NN evaluation of self-supervised learning that Sorkhei et al. use as a transferability estimate (the
    weighted vote of Wu et al. 2018 / DINO): features L2-normalised, cosine similarity, the k most similar other
    samples vote for their class with weight ``exp(similarity / temperature)``. Leave-one-out on the target
    samples, so no split is needed; ``k`` is clipped to N - 1.

    Args:
        features: ``[N, D]`` penultimate features.
        labels: ``[N]`` target class indices.
        k: neighbours (DINO's default 20).
        temperature: vote temperature (DINO's 0.07).
    """
    f = as_features(features)
    y = dense_labels(as_labels(labels, f.shape[0]))
    n = f.shape[0]
    if n < 2:
        raise HfnetError("k-NN accuracy needs at least two samples")
    if k < 1 or temperature <= 0:
        raise HfnetError(f"k must be >= 1 and temperature > 0, got k={k}, temperature={temperature}")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(norms > 0, norms, 1.0)
    k = min(k, n - 1)
    classes = int(y.max()) + 1
    votes = np.empty((n, classes))
    # the N x N similarities a block of rows at a time, so memory stays O(block x N) (20 000 samples at once would
    # need 3.2 GB)
    block = max(1, min(n, BLOCK_ELEMENTS // n))
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        sim = f[rows] @ f.T
        sim[np.arange(len(rows)), rows] = -np.inf  # leave each sample out of its own vote
        nearest = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        near_sim = np.take_along_axis(sim, nearest, axis=1)
        weights = np.exp((near_sim - 1.0) / temperature)  # shifted by the largest cosine: same votes, no overflow
        # each sample's class votes as one weighted bincount over (sample, class) cells: the same sums, in the same
        # order, as np.add.at, several times faster
        cells = (np.arange(len(rows))[:, None] * classes + y[nearest]).reshape(-1)
        votes[rows] = np.bincount(cells, weights=weights.reshape(-1), minlength=len(rows) * classes).reshape(
            len(rows), classes
        )
    return float(np.mean(votes.argmax(axis=1) == y))
