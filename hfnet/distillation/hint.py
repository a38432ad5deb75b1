"""The FitNets hint stage, all of it: capture a named layer's output, regress student features onto teacher features,
train the student up to its hint layer (:class:`HintTrainer`, :func:`run_hint_stage`).

Romero et al. 2014, "FitNets: Hints for Thin Deep Nets", https://arxiv.org/abs/1412.6550. Stage 1 trains the student
up to its hint layer (plus the regressor) on :func:`hfnet.distillation.losses.hint_loss`; stage 2 runs KD
(:func:`hfnet.distillation.chain.distill` calls :func:`run_hint_stage` first when ``args.hint`` is set).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfnet._modelstate import eval_mode
from hfnet.distillation.config import DistillationConfig, parse_hint
from hfnet.distillation.losses import hint_loss
from hfnet.distillation.trainer import DistillationTrainer, check_same_classes, convert_pixels
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = [
    "HintRegressor",
    "HintStudent",
    "HintTrainer",
    "as_feature_map",
    "capture_outputs",
    "check_layer",
    "layer_names",
    "probe_features",
    "run_hint_stage",
]


def layer_names(model: nn.Module) -> list[str]:
    """Names usable as hint layers: the per-block modules when the model is a HubClassifier, else all modules."""
    blocks = getattr(model, "blocks", None)
    if callable(blocks):
        try:
            return [name for name, _ in blocks()]
        except HfnetError:
            pass
    inner = getattr(model, "model", model)
    return [name for name, _ in inner.named_modules() if name]


def check_layer(model: nn.Module, name: str, role: str) -> nn.Module:
    """The module called ``name`` inside ``model.model`` (HubClassifier) or ``model``; a clear error otherwise."""
    inner = getattr(model, "model", model)
    modules = dict(inner.named_modules())
    if name not in modules or not name:
        available = layer_names(model)
        shown = ", ".join(available[:40]) + (", ..." if len(available) > 40 else "")
        raise HfnetError(
            f"unknown {role + ' ' if role else ''}hint layer {name!r}; available block names: {shown} "
            f"(any module name from model.named_modules() works too)"
        )
    return modules[name]


def _first_tensor(output: object) -> Tensor:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], Tensor):
        return output[0]
    for key in ("last_hidden_state", "hidden_states"):
        value = getattr(output, key, None)
        if isinstance(value, Tensor):
            return value
    raise HfnetError(f"the hint layer returns {type(output).__name__}, not a tensor; pick another layer")


@contextmanager
def capture_outputs(model: nn.Module, names: list[str], role: str = "") -> Iterator[dict[str, Tensor]]:
    """Within the block, ``captured[name]`` holds the latest output tensor of each named module."""
    captured: dict[str, Tensor] = {}
    handles = []
    for name in names:
        module = check_layer(model, name, role)

        def hook(_m: nn.Module, _args: object, output: object, name: str = name) -> None:
            captured[name] = _first_tensor(output)

        handles.append(module.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()


def as_feature_map(x: Tensor) -> Tensor:
    """View any layer output as a ``[B, C, H, W]`` map: conv maps as they are, ViT tokens as a grid, vectors 1x1.

    Tokens ``[B, N, D]`` drop a leading class token when ``N - 1`` (and not ``N``) is a square.
    """
    if x.dim() == 4:
        return x
    if x.dim() == 2:
        return x[:, :, None, None]
    if x.dim() == 3:
        b, n, d = x.shape
        side = math.isqrt(n)
        if side * side != n and math.isqrt(n - 1) ** 2 == n - 1:
            x, n, side = x[:, 1:], n - 1, math.isqrt(n - 1)
        h, w = (side, side) if side * side == n else (n, 1)
        return x.transpose(1, 2).reshape(b, d, h, w)
    raise HfnetError(f"cannot use a {x.dim()}-d layer output as a hint feature")


class HintRegressor(nn.Module):
    """Maps a student feature map onto the teacher's: average-pool to the teacher's grid, then a 1x1 convolution.

    FitNets uses a convolutional regressor so that the thinner student layer can match the wider teacher layer;
    the pooling lets students and teachers of different architectures (CNN vs ViT, other resolutions) meet.
    """

    def __init__(self, student_channels: int, teacher_channels: int, teacher_grid: tuple[int, int]) -> None:
        super().__init__()
        self.teacher_grid = tuple(teacher_grid)
        self.proj = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)

    @classmethod
    def for_features(cls, student_features: Tensor, teacher_features: Tensor) -> HintRegressor:
        s, t = as_feature_map(student_features), as_feature_map(teacher_features)
        return cls(s.shape[1], t.shape[1], (t.shape[2], t.shape[3]))

    def forward(self, student_features: Tensor) -> Tensor:
        x = as_feature_map(student_features)
        if tuple(x.shape[2:]) != self.teacher_grid:
            x = F.adaptive_avg_pool2d(x, self.teacher_grid)
        return self.proj(x)


class HintStudent(nn.Module):
    """Student plus regressor as one module, so the Trainer (and DDP) sees the regressor's parameters.

    ``forward`` returns the student's output with ``hint`` set to the regressed hint-layer feature.
    """

    def __init__(self, student: nn.Module, regressor: HintRegressor, layer: str) -> None:
        super().__init__()
        self.student = student
        self.regressor = regressor
        self.layer = layer

    def forward(self, pixel_values: Tensor, labels: Tensor | None = None, **_: object) -> dict[str, Tensor]:
        with capture_outputs(self.student, [self.layer], "student") as captured:
            out = self.student(pixel_values)
        return {"logits": out.logits, "hint": self.regressor(captured[self.layer])}


@torch.no_grad()
def probe_features(model: nn.Module, layer: str, pixel_values: Tensor, role: str = "") -> Tensor:
    """Output of ``layer`` for one batch in eval mode (used to size the regressor); the model's modes are restored."""
    with eval_mode(model), capture_outputs(model, [layer], role) as captured:
        model(pixel_values)
    return captured[layer]


class HintTrainer(DistillationTrainer):
    """FitNets stage 1 as a ``Trainer``: ``model`` is a :class:`HintStudent`, the loss is
    :func:`~hfnet.distillation.losses.hint_loss` between its regressed hint feature and the frozen teacher's
    ``teacher_layer`` output (logged as ``loss_hint``). Teacher placement, preprocessing and logging are
    :class:`~hfnet.distillation.trainer.DistillationTrainer`'s; the teacher-logit cache does not apply.
    """

    def __init__(
        self,
        model: HintStudent,
        teacher: nn.Module,
        args: DistillationConfig,
        train_dataset: Any = None,
        *,
        teacher_layer: str,
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, HintStudent):
            raise HfnetError("the hint stage trains a HintStudent (student + regressor); see run_hint_stage")
        if args.cache_teacher_logits:
            raise HfnetError("the hint stage regresses teacher features, not logits: turn cache_teacher_logits off")
        check_layer(teacher, teacher_layer, "teacher")
        super().__init__(model, teacher, args, train_dataset=train_dataset, **kwargs)
        self.teacher_layer = teacher_layer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        if not model.training:  # the stage has no evaluation loss of its own
            outputs = model(pixel_values=inputs["pixel_values"])
            loss = torch.zeros((), device=inputs["pixel_values"].device)
            return (loss, outputs) if return_outputs else loss
        outputs = model(pixel_values=inputs["pixel_values"])
        with torch.no_grad(), capture_outputs(self.teacher, [self.teacher_layer], "teacher") as captured:
            self.teacher.eval()
            self.teacher(pixel_values=self._teacher_pixels(inputs))
        loss = hint_loss(outputs["hint"], as_feature_map(captured[self.teacher_layer]))
        self._metrics["train"]["loss_hint"].append(loss.detach())
        return (loss, outputs) if return_outputs else loss


def _first_batch(dataset: Any, size: int) -> Tensor:
    from hfnet.data import collate_fn

    n = min(size, len(dataset))
    return collate_fn([dataset[i] for i in range(n)])["pixel_values"]


def run_hint_stage(
    student: nn.Module,
    teacher: nn.Module,
    train_dataset: Any,
    args: DistillationConfig,
    hint: str | tuple[str, str],
) -> HintTrainer:
    """FitNets stage 1: train the student up to ``student_layer`` (plus a regressor) to predict ``teacher_layer``.

    Parameters that do not reach the hint layer are frozen for the stage (and restored after, also on error), so the
    head and later blocks stay untouched and DDP sees no unused parameters. ``train_dataset`` is transformed for the
    student (``pixel_values``; ``teacher_pixel_values`` optional). The stage runs ``args.hint_epochs`` (or
    ``args.hint_max_steps``) at ``args.hint_learning_rate`` (default ``args.learning_rate``).
    """
    student_layer, teacher_layer = parse_hint(hint) if isinstance(hint, str) else hint
    check_layer(student, student_layer, "student")
    check_layer(teacher, teacher_layer, "teacher")
    check_same_classes(student, teacher)
    teacher.eval().requires_grad_(False)
    batch = _first_batch(train_dataset, 2).to(student.device)
    s_feat = probe_features(student, student_layer, batch, "student")
    t_batch = convert_pixels(batch, student.preprocessing, teacher.preprocessing).to(teacher.device)
    t_feat = probe_features(teacher, teacher_layer, t_batch, "teacher")
    regressor = HintRegressor.for_features(s_feat, t_feat).to(student.device)
    wrapped = HintStudent(student, regressor, student_layer)

    # find which student parameters feed the hint layer: one backward of the hint loss (eval mode: no BN updates)
    with eval_mode(student):
        with capture_outputs(teacher, [teacher_layer], "teacher") as captured, torch.no_grad():
            teacher(t_batch)
        hint_loss(wrapped(batch)["hint"], as_feature_map(captured[teacher_layer])).backward()
    flags = {n: p.requires_grad for n, p in student.named_parameters()}
    try:
        for _, p in student.named_parameters():
            if p.grad is None:
                p.requires_grad_(False)
            p.grad = None
        for p in regressor.parameters():
            p.grad = None
        trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
        logger.info("hint stage %s -> %s: training %d student parameters", student_layer, teacher_layer, trainable)

        overrides: dict[str, Any] = {
            "num_train_epochs": args.hint_epochs,
            "max_steps": args.hint_max_steps,
            "output_dir": os.path.join(args.output_dir or ".", "hint_stage"),
            "cache_teacher_logits": False,
            "eval_strategy": "no",
            "load_best_model_at_end": False,
        }
        if args.hint_learning_rate is not None:
            overrides["learning_rate"] = args.hint_learning_rate
        trainer = HintTrainer(
            wrapped, teacher, dataclasses.replace(args, **overrides), train_dataset, teacher_layer=teacher_layer
        )
        trainer.train()
    finally:
        for n, p in student.named_parameters():
            p.requires_grad_(flags[n])
    return trainer
