"""Multimodal selector (MMS, seed 004; Ogawa & Kameyama, ICONIP 2021).

One classifier per modality; a small network reads the classifiers' output vectors, predicts which modality is
reliable (the one not degraded by noise or occlusion), and the chosen classifier's answer is the final answer.
Plain averaging of the classifiers' probabilities is the baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfnet.errors import HfnetError

__all__ = [
    "ModalitySelector",
    "average_predictions",
    "gaussian_noise",
    "occlude",
    "select_predictions",
    "selector_features",
    "train_selector",
]


def gaussian_noise(images: Tensor, sigma: float, generator: torch.Generator | None = None) -> Tensor:
    """Add N(0, sigma^2) noise to images in [0, 1] and clip back to [0, 1]."""
    if sigma < 0:
        raise HfnetError(f"noise sigma must be >= 0, got {sigma}")
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return (images + sigma * noise).clamp(0.0, 1.0)


def occlude(
    images: Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """Black out a random square covering ``fraction`` of ``region`` (top, left, height, width; default the image).

    One square per image, placed uniformly inside the region.
    """
    if not 0.0 <= fraction <= 1.0:
        raise HfnetError(f"occlusion fraction must lie in [0, 1], got {fraction}")
    out = images.clone()
    h_img, w_img = images.shape[-2:]
    top0, left0, h, w = region or (0, 0, h_img, w_img)
    side_h = round(h * fraction**0.5)
    side_w = round(w * fraction**0.5)
    if side_h == 0 or side_w == 0:
        return out
    tops = torch.randint(0, h - side_h + 1, (len(images),), generator=generator)
    lefts = torch.randint(0, w - side_w + 1, (len(images),), generator=generator)
    for i, (t, lf) in enumerate(zip(tops.tolist(), lefts.tolist())):
        out[i, ..., top0 + t : top0 + t + side_h, left0 + lf : left0 + lf + side_w] = 0.0
    return out


def selector_features(probabilities: list[Tensor]) -> Tensor:
    """The selector's input: each modality's class probabilities, concatenated (``[N, M * C]``)."""
    if len(probabilities) < 2:
        raise HfnetError("the selector needs at least two modalities")
    shapes = {tuple(p.shape) for p in probabilities}
    if len(shapes) != 1:
        raise HfnetError(f"every modality must give [N, C] probabilities of the same shape, got {sorted(shapes)}")
    return torch.cat(probabilities, dim=1)


class ModalitySelector(nn.Module):
    """MLP from the concatenated output vectors of ``num_modalities`` classifiers to a score per modality."""

    def __init__(self, num_modalities: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.num_modalities, self.num_classes = num_modalities, num_classes
        self.net = nn.Sequential(
            nn.Linear(num_modalities * num_classes, hidden), nn.ReLU(), nn.Linear(hidden, num_modalities)
        )

    def forward(self, probabilities: list[Tensor]) -> Tensor:
        return self.net(selector_features(probabilities))


def train_selector(
    probabilities: list[Tensor],
    reliable: Tensor,
    *,
    hidden: int = 64,
    epochs: int = 30,
    batch_size: int = 128,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> ModalitySelector:
    """Fit a :class:`ModalitySelector` to predict ``reliable[i]`` (the index of the undegraded modality).

    Args:
        probabilities: one ``[N, C]`` softmax output per modality, computed on degraded inputs.
        reliable: ``[N]`` index of the modality that was not degraded.
    """
    feats = selector_features(probabilities)
    if reliable.shape != (feats.shape[0],):
        raise HfnetError(f"reliable must have shape [{feats.shape[0]}], got {tuple(reliable.shape)}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    selector = ModalitySelector(len(probabilities), probabilities[0].shape[1], hidden)
    opt = torch.optim.Adam(selector.parameters(), lr=learning_rate)
    n = feats.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(selector.net(feats[idx]), reliable[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return selector.eval()


@torch.no_grad()
def select_predictions(selector: ModalitySelector, probabilities: list[Tensor]) -> tuple[Tensor, Tensor]:
    """``(predicted class, chosen modality)`` per sample: the chosen modality's classifier decides."""
    chosen = selector(probabilities).argmax(dim=1)
    stacked = torch.stack(probabilities, dim=1)  # [N, M, C]
    picked = stacked[torch.arange(len(chosen)), chosen]
    return picked.argmax(dim=1), chosen


def average_predictions(probabilities: list[Tensor]) -> Tensor:
    """Baseline: the class with the highest mean probability over modalities."""
    return torch.stack(probabilities).mean(dim=0).argmax(dim=1)
