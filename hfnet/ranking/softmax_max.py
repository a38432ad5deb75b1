"""Softmax-max: how confidently a candidate's source head classifies the target images (seed 003, section 3.1).

Ueno, Azuma, Kondo, "Model selection for efficient transfer learning in image recognition" (seed 003): the larger
``max_k f(x_i)_k``, the more the source network already separates the target images.
"""

from __future__ import annotations

import numpy as np

from hfnet.ranking._validate import as_probabilities


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_max(probs: np.ndarray) -> float:
    """``sum_i max_k f(x_i)_k`` over the target samples (higher = more transferable).

    Args:
        probs: ``[N, n_s]`` softmax outputs of the candidate's source head on the target images.

    Returns:
        The sum, as in the paper; it grows with N, so compare candidates on the same samples or use
        :func:`softmax_max_mean`.
    """
    return float(as_probabilities(probs).max(axis=1).sum())


def softmax_max_mean(probs: np.ndarray) -> float:
    """``mean_i max_k f(x_i)_k``: :func:`softmax_max` divided by N, comparable across sample counts."""
    p = as_probabilities(probs)
    return float(p.max(axis=1).mean())
