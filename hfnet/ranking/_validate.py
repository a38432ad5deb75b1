"""Input checks shared by the score functions: every score takes plain arrays and fails with one clear message."""

from __future__ import annotations

import numpy as np

from hfnet.errors import HfnetError


def as_probabilities(probs: np.ndarray, name: str = "probs") -> np.ndarray:
    """``[N, C]`` float64 rows that sum to 1 (softmax outputs)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise HfnetError(f"{name} must be a non-empty [num_samples, num_classes] array, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < -1e-8) or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise HfnetError(f"{name} must hold probabilities (non-negative rows summing to 1); pass softmax(logits)")
    return np.clip(p, 0.0, None)


def as_labels(labels: np.ndarray, num_samples: int, num_classes: int | None = None) -> np.ndarray:
    """``[N]`` int64 labels in ``[0, num_classes)``."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != num_samples:
        raise HfnetError(f"labels must be a [num_samples={num_samples}] array, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise HfnetError("labels must be integers (class indices)")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes)):
        raise HfnetError(f"labels must lie in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    return y


def as_features(features: np.ndarray) -> np.ndarray:
    """``[N, D]`` float64 features."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
        raise HfnetError(f"features must be a non-empty [num_samples, dim] array, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise HfnetError("features contain NaN or inf; check the model's forward pass")
    return f


def dense_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..K-1 in sorted order of the classes present (scores only use the classes seen)."""
    return np.unique(labels, return_inverse=True)[1].reshape(-1)
