"""Distillation losses as pure functions.

- Knowledge distillation (Hinton et al. 2015, https://arxiv.org/abs/1503.02531): the seed's ``E_hard`` (cross-entropy
  with the labels) and ``E_soft`` (``T^2 * KL(softmax(t / T) || softmax(s / T))``) mixed with weight ``alpha``.
- Merit-based weighting (Morikawa & Kameyama, CSPA 2023): per-sample ``alpha`` shifted up by ``delta`` where the
  teacher is right and down where it is wrong.
- Unlabelled transfer set (Hinton et al. 2015, sections 2-3: the soft targets can be computed on a "transfer set"
  that need not be labelled; Beyer et al. 2022, https://arxiv.org/abs/2106.05237, and SimCLRv2, Chen et al. 2020,
  https://arxiv.org/abs/2006.10029, distil on unlabelled images): a sample whose label is ``IGNORE_INDEX`` (-100,
  the ignore index of ``transformers`` and ``F.cross_entropy``) has no hard term and soft weight 1.
- Hint loss (FitNets, Romero et al. 2014, https://arxiv.org/abs/1412.6550): mean squared error between the regressed
  student feature and the teacher's guided-layer feature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IGNORE_INDEX", "hard_loss", "hint_loss", "kd_loss", "kd_loss_terms", "merit_weights", "soft_loss"]

IGNORE_INDEX = -100
"""The label of an unlabelled (transfer-set) sample: the ignore index of ``transformers`` and ``F.cross_entropy``."""


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; the paper's values are 1 to 20 (Hinton: 2-20).")


def hard_loss(student_logits: Tensor, labels: Tensor) -> Tensor:
    """Per-sample cross-entropy with the ground-truth labels (``E_hard``), shape ``[B]``; 0 where the label is
    :data:`IGNORE_INDEX` (an unlabelled sample)."""
    return F.cross_entropy(student_logits.float(), labels, reduction="none", ignore_index=IGNORE_INDEX)


def soft_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Per-sample ``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` (``E_soft``), shape ``[B]``.

    The ``T^2`` factor keeps the soft-target gradients on the scale of the hard ones when ``T`` changes
    (Hinton et al. 2015, section 2).
    """
    _check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ; "
            "teacher and student must predict the same classes."
        )
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)
    return temperature**2 * kl


def kd_loss_terms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    temperature: float,
    alpha: float | Tensor,
) -> dict[str, Tensor]:
    """The KD loss and its two terms, each averaged over the batch; unlabelled samples get the soft term only.

    A sample whose label is :data:`IGNORE_INDEX` (-100) comes from an unlabelled transfer set (Hinton et al. 2015,
    section 2: the soft targets need no labels): its hard term is masked out and its soft weight is 1, whatever
    ``alpha`` says. Labelled samples keep ``(1 - alpha_i) * hard_i + alpha_i * soft_i``. Without unlabelled samples
    the loss is Hinton's, unchanged.

    Args:
        student_logits: ``[B, C]`` student logits (carry gradients).
        teacher_logits: ``[B, C]`` teacher logits (detached by the caller).
        labels: ``[B]`` class indices, :data:`IGNORE_INDEX` for an unlabelled sample.
        temperature: softmax temperature ``T > 0``.
        alpha: weight of the soft term in ``[0, 1]``, a float or a per-sample ``[B]`` tensor (merit weighting).

    Returns:
        ``{"loss", "hard", "soft", "alpha", "labeled"}``: ``loss = mean(w_hard * hard + w_soft * soft)`` over the
        batch with ``(w_hard, w_soft) = (1 - alpha_i, alpha_i)`` for a labelled sample and ``(0, 1)`` for an
        unlabelled one; for logging, ``hard`` is the unweighted mean over the labelled samples (0 when there are
        none), ``soft`` the unweighted mean over all, ``alpha`` the mean soft weight actually used and ``labeled``
        the fraction of labelled samples.
    """
    hard = hard_loss(student_logits, labels)
    soft = soft_loss(student_logits, teacher_logits.detach(), temperature)
    if isinstance(alpha, Tensor):
        if alpha.shape not in (torch.Size([]), hard.shape):
            raise ValueError(f"alpha must be a scalar or have shape {tuple(hard.shape)}, got {tuple(alpha.shape)}")
        if bool(((alpha < 0) | (alpha > 1)).any()):
            raise ValueError("alpha values must lie in [0, 1]")
        alpha = alpha.to(hard)
    elif not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    labeled = labels != IGNORE_INDEX
    # (1 - alpha) is formed as before, so a batch without unlabelled samples gives Hinton's loss bit for bit
    w_hard = torch.where(labeled, 1 - alpha, 0.0)
    w_soft = torch.where(labeled, alpha, 1.0)
    loss = (w_hard * hard + w_soft * soft).mean()
    n_labeled = labeled.sum()
    hard_mean = (hard * labeled).sum() / n_labeled.clamp(min=1)
    return {
        "loss": loss,
        "hard": hard_mean.detach(),
        "soft": soft.mean().detach(),
        "alpha": w_soft.mean().detach(),
        "labeled": (n_labeled / labeled.numel()).detach(),
    }


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    temperature: float = 4.0,
    alpha: float | Tensor = 0.5,
) -> Tensor:
    """Hinton's distillation loss ``(1 - a) * CE(s, y) + a * T^2 * KL(softmax(t / T) || softmax(s / T))``.

    Averaged over the batch. ``alpha = 1`` gives pure soft targets (0 when the logits are equal), ``alpha = 0`` gives
    plain cross-entropy. See :func:`kd_loss_terms` for the arguments.
    """
    return kd_loss_terms(student_logits, teacher_logits, labels, temperature, alpha)["loss"]


def merit_weights(teacher_logits: Tensor, labels: Tensor, alpha: float, delta: float) -> Tensor:
    """Per-sample soft-loss weights for merit-based distillation.

    Where the teacher predicts the label, the soft term ``E_soft`` gets ``alpha + delta``; where it is wrong, the
    hard term gets more weight: ``alpha - delta``. Clipped to ``[0, 1]``. The seed found small shifts better than
    fixed weights. An unlabelled sample (label :data:`IGNORE_INDEX`) gets 1: whether the teacher is right there is
    unknown, and the soft term is all it has.

    Returns:
        ``[B]`` float tensor of ``alpha_i`` to pass as ``alpha`` to :func:`kd_loss`.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if delta < 0:
        raise ValueError(f"merit delta must be >= 0, got {delta}")
    correct = teacher_logits.argmax(dim=-1) == labels
    shift = torch.where(correct, delta, -delta).to(torch.float32)
    return torch.where(labels == IGNORE_INDEX, 1.0, (alpha + shift).clamp(0.0, 1.0))


def hint_loss(regressed_student_features: Tensor, teacher_features: Tensor) -> Tensor:
    """FitNets hint loss: mean squared error between the regressed student feature and the teacher's feature.

    Both tensors must have the same shape (the regressor maps the student's hint layer onto the teacher's guided
    layer, see :class:`hfnet.distillation.hint.HintRegressor`). FitNets uses ``0.5 * ||u - r(v)||^2``; the mean keeps
    the scale independent of the feature size.
    """
    if regressed_student_features.shape != teacher_features.shape:
        raise ValueError(
            f"regressed student features {tuple(regressed_student_features.shape)} and teacher features "
            f"{tuple(teacher_features.shape)} differ in shape"
        )
    return F.mse_loss(regressed_student_features.float(), teacher_features.detach().float())
