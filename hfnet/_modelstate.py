"""Model-state helpers shared by every capability: run in a mode and give the model back exactly as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["eval_mode", "train_mode", "module_modes", "restore_modes"]


def module_modes(model: torch.nn.Module) -> list[tuple[torch.nn.Module, bool]]:
    """The ``training`` flag of every submodule (the model included), in ``modules()`` order."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(modes: list[tuple[torch.nn.Module, bool]]) -> None:
    """Put back the flags :func:`module_modes` recorded, module by module (a frozen BatchNorm stays frozen)."""
    for module, training in modes:
        module.training = training


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model.eval()`` inside the block; on exit every submodule's flag is what it was before, even on error."""
    modes = module_modes(model)
    model.eval()
    try:
        yield model
    finally:
        restore_modes(modes)


@contextlib.contextmanager
def train_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model.train()`` inside the block (BatchNorm statistics update); every flag restored on exit."""
    modes = module_modes(model)
    model.train()
    try:
        yield model
    finally:
        restore_modes(modes)
