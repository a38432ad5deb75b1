"""Merge methods picked by name (``hfnet merge --method NAME``): a small registry of pure tensor functions."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from hfnet.errors import HfnetError


@dataclass(frozen=True)
class MergeMethod:
    """A merge method: ``fn(tensors, weights, base, **options) -> Tensor`` for one tensor name at a time.

    Attributes:
        name: the name users pass to ``--method``.
        fn: the pure tensor function (see the method's module).
        needs_base: whether a base model (``--base``) is required (task arithmetic, TIES).
        max_models: the largest number of models it combines (None: any).
        options: the keyword options ``fn`` accepts besides tensors/weights/base.
        summary: one line for help texts and model cards.
    """

    name: str
    fn: Callable[..., Tensor]
    needs_base: bool
    max_models: int | None
    options: tuple[str, ...]
    summary: str

    def __call__(
        self, tensors: Sequence[Tensor], weights: Sequence[float] | None = None, base: Tensor | None = None, **options
    ) -> Tensor:
        unknown = set(options) - set(self.options)
        if unknown:
            raise HfnetError(
                f"merge method '{self.name}' takes no option(s) {sorted(unknown)}; it takes {self.options}"
            )
        if self.needs_base:
            return self.fn(tensors, base, weights, **options)
        return self.fn(tensors, weights, **options)


MERGE_METHODS: dict[str, MergeMethod] = {}


def register_merge_method(
    name: str,
    *,
    needs_base: bool = False,
    max_models: int | None = None,
    options: tuple[str, ...] = (),
    summary: str = "",
) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Decorator adding a pure tensor function to :data:`MERGE_METHODS` under ``name``."""

    def wrap(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        MERGE_METHODS[name] = MergeMethod(name, fn, needs_base, max_models, options, summary)
        return fn

    return wrap


BUILTIN_METHOD_MODULES = ("average", "task_arithmetic", "ties", "slerp")


def _register_builtins() -> None:
    """Import the built-in method modules (their decorators fill :data:`MERGE_METHODS`)."""

    for module in BUILTIN_METHOD_MODULES:
        importlib.import_module(f"hfnet.merging.{module}")


def get_merge_method(name: str) -> MergeMethod:
    """The registered method called ``name``; a clear error listing the known ones otherwise."""
    _register_builtins()

    if name not in MERGE_METHODS:
        raise HfnetError(f"unknown merge method '{name}'; choose one of: {', '.join(sorted(MERGE_METHODS))}")
    return MERGE_METHODS[name]


def check_weights(weights: Sequence[float] | None, num_models: int) -> list[float] | None:
    """Validate per-model weights: one finite number per model."""
    if weights is None:
        return None
    weights = [float(w) for w in weights]
    if len(weights) != num_models:
        raise HfnetError(f"{len(weights)} weights given for {num_models} models; pass exactly one weight per model")
    return weights
