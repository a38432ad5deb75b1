"""Consistent teaching: one random view of each training batch, shown to the student and the teacher alike.

Beyer et al. 2022 ("Knowledge distillation: A good teacher is patient and consistent",
https://arxiv.org/abs/2106.05237) distil by *function matching*: teacher and student see exactly the same augmented
image (an aggressive random-resized crop and mixup of two images), so the student learns the teacher's function
around the data rather than its outputs on a fixed set, and keeps improving where training on labels overfits. The
views are made here from the batch tensor, after the dataset's own preprocessing, so the teacher's logits are those
of the very pixels the student sees (no cached logits).

- ``crop``: a random-resized crop per image (area fraction ``U(0.35, 1)``, aspect ratio log-uniform in ``[3/4, 4/3]``,
  a random place inside the image), resampled bilinearly to the input size, and a horizontal flip with
  probability 0.5 (Inception-style crops, as in the paper);
- ``mixup`` (Zhang et al. 2018, https://arxiv.org/abs/1710.09412): each image blended with another image of the
  batch, ``lam * x_i + (1 - lam) * x_j``, ``lam ~ Beta(a, a)`` per image (``a = 1``: uniform mixing, the paper's
  aggressive setting); the label term uses the same blend of the two labels' cross-entropies;
- ``crop+mixup``: a crop of each image, then mixup of the crops.

The pixels are already normalised per channel; cropping (a convex resampling) and mixing commute with that affine
normalisation, so the view equals the normalised view of the raw image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AUGMENTS", "View", "consistent_view", "mixup", "random_resized_crop", "view_hard_loss"]

AUGMENTS = ("none", "crop", "mixup", "crop+mixup")
CROP_SCALE = (0.35, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


@dataclass
class View:
    """A batch as the student and the teacher both see it.

    ``partner[i]`` is the batch index of the image blended into image ``i`` with weight ``1 - lam[i]``; both are
    ``None`` without mixup.
    """

    pixel_values: Tensor
    partner: Tensor | None = None
    lam: Tensor | None = None


def random_resized_crop(
    pixel_values: Tensor,
    rng: np.random.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
    flip: bool = True,
) -> Tensor:
    """A random-resized crop of each image of ``[B, C, H, W]`` back to ``H x W`` (bilinear), flipped with p = 0.5.

    The crop covers a fraction ``U(scale)`` of the image area with aspect ratio log-uniform in ``ratio`` (each side
    capped at the full side) at a uniformly random position inside the image.
    """
    b = pixel_values.shape[0]
    area = rng.uniform(*scale, size=b)
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=b))
    width = np.minimum(np.sqrt(area * aspect), 1.0)  # fractions of the full side
    height = np.minimum(np.sqrt(area / aspect), 1.0)
    # affine_grid works in [-1, 1]: a crop of half-size w sits at a centre in [-(1 - w), 1 - w]
    cx = rng.uniform(-1.0, 1.0, size=b) * (1.0 - width)
    cy = rng.uniform(-1.0, 1.0, size=b) * (1.0 - height)
    sign = np.where(rng.random(size=b) < 0.5, -1.0, 1.0) if flip else np.ones(b)
    theta = np.zeros((b, 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = sign * width, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    theta_t = torch.as_tensor(theta, dtype=pixel_values.dtype, device=pixel_values.device)
    grid = F.affine_grid(theta_t, list(pixel_values.shape), align_corners=False)
    return F.grid_sample(pixel_values, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(pixel_values: Tensor, rng: np.random.Generator, alpha: float = 1.0) -> View:
    """Blend each image with another of the batch (a random permutation), ``lam ~ Beta(alpha, alpha)`` per image."""
    if not alpha > 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    b = pixel_values.shape[0]
    partner = torch.as_tensor(rng.permutation(b), device=pixel_values.device)
    lam = torch.as_tensor(rng.beta(alpha, alpha, size=b), dtype=pixel_values.dtype, device=pixel_values.device)
    weight = lam.view(-1, *([1] * (pixel_values.dim() - 1)))
    mixed = weight * pixel_values + (1 - weight) * pixel_values[partner]
    return View(mixed, partner, lam)


def consistent_view(pixel_values: Tensor, augment: str, rng: np.random.Generator, mixup_alpha: float = 1.0) -> View:
    """The view of a batch for ``augment`` (one of :data:`AUGMENTS`); ``none`` returns the batch unchanged."""
    if augment not in AUGMENTS:
        raise ValueError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENTS)}")
    if augment == "none":
        return View(pixel_values)
    x = random_resized_crop(pixel_values, rng) if "crop" in augment else pixel_values
    return mixup(x, rng, mixup_alpha) if "mixup" in augment else View(x)


def view_hard_loss(student_logits: Tensor, labels: Tensor, view: View) -> Tensor:
    """Per-sample cross-entropy with the labels of the view, shape ``[B]``: for a mixed image
    ``lam * CE(s, y_i) + (1 - lam) * CE(s, y_partner)``, else ``CE(s, y_i)``."""
    own = F.cross_entropy(student_logits.float(), labels, reduction="none")
    if view.partner is None:
        return own
    other = F.cross_entropy(student_logits.float(), labels[view.partner], reduction="none")
    lam = view.lam.to(own)
    return lam * own + (1 - lam) * other
