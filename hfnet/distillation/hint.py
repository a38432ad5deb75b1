"""FitNets hint stage pieces: capture a named layer's output and regress student features onto teacher features.

Romero et al. 2014, "FitNets: Hints for Thin Deep Nets", https://arxiv.org/abs/1412.6550. Stage 1 trains the student
up to its hint layer (plus the regressor) on :func:`hfnet.distillation.losses.hint_loss`; stage 2 runs KD.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfnet.errors import HfnetError

__all__ = [
    "HintRegressor",
    "HintStudent",
    "as_feature_map",
    "capture_outputs",
    "check_layer",
    "layer_names",
    "probe_features",
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
    """Output of ``layer`` for one batch (used to size the regressor)."""
    was_training = model.training
    model.eval()
    try:
        with capture_outputs(model, [layer], role) as captured:
            model(pixel_values)
    finally:
        model.train(was_training)
    return captured[layer]
