"""NCE, negative conditional entropy of target labels given the source head's hard predictions (Tran, Nguyen,
Hassner, ICCV 2019, https://arxiv.org/abs/1908.08142)."""

from __future__ import annotations

import numpy as np

from hfnet.ranking._validate import as_labels, as_probabilities, dense_labels


def nce(probs: np.ndarray, labels: np.ndarray) -> float:
    """``-H(Y | Z) = sum_{y,z} P(y, z) log P(y | z)`` with ``z_i = argmax_k theta(x_i)_k`` (higher = better, <= 0).

    Args:
        probs: ``[N, n_s]`` source softmax outputs (only their argmax is used).
        labels: ``[N]`` target class indices.
    """
    p = as_probabilities(probs)
    y = dense_labels(as_labels(labels, p.shape[0]))
    z = dense_labels(p.argmax(axis=1))
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= p.shape[0]
    marginal = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    conditional = np.divide(joint, marginal, out=np.ones_like(joint), where=nz)
    return float(np.sum(joint[nz] * np.log(conditional[nz])))
