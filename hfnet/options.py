"""Job options declared once, as dataclasses, and the light parser both front ends build from them.

Every hfnet job (``hfnet prune`` and ``recipes/prune_vit.py``, ``hfnet distill`` and ``recipes/distill.py``, ...)
declares its options as dataclass fields (``field(default=..., metadata={"help": ...})``), in the shape
``transformers.HfArgumentParser`` reads. :class:`ArgumentParser` turns those declarations into ``argparse``
options without importing torch or transformers, so every ``--help`` answers at once, and
:meth:`ArgumentParser.parse_args_into_dataclasses` gives the dataclass instances back (their ``__post_init__``
validates, so a bad option fails before anything is loaded or written).

Field metadata understood besides ``help``: ``choices`` (or a ``Literal`` type), ``positional`` (a positional
argument; ``nargs`` "+" for lists), ``option`` (a positional's option spelling too, e.g. ``--model_name_or_path``),
``aliases`` (more option strings, e.g. the transformers/TRL names ``--dataset_name``, ``--num_train_epochs``),
``metavar``, and the numeric rules ``min``, ``max``, ``min_open`` / ``max_open`` (bounds excluded). Each option is
spelled ``--kebab-case`` and also accepts ``--snake_case`` (HfArgumentParser's spelling), so ``accelerate launch``
commands keep working.

Numbers are checked at parse time, before any dataclass is built: every float must be finite, every integer >= 0
unless its field declares another ``min`` (``--max-steps -1``), and declared ranges hold, each failure one line naming
the rule. A dataclass with ``TRAINER_OPTIONS = True`` (:class:`TrainingOptions`) also brings every
``transformers.TrainingArguments`` field under its own name (from the static table in :mod:`hfnet._trainer_fields`,
so ``--help`` stays fast); the values given land in its ``trainer_args`` dict. ``--config FILE`` (YAML or JSON, a
flat ``{option: value}`` mapping as :func:`config_dict` and model cards record it) sets any option; values on the
command line win.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfnet._trainer_fields import TRAINER_FIELDS
from hfnet.errors import HfnetError

__all__ = [
    "ArgumentParser",
    "DatasetArguments",
    "OutputArguments",
    "TrainingOptions",
    "add_dataclass_arguments",
    "check_numbers",
    "config_dict",
    "dataclasses_from_namespace",
    "load_config",
    "with_defaults",
]

_MISSING = dataclasses.MISSING


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(tp, False)``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _parse_bool(text: str) -> bool:
    low = str(text).lower()
    if low in ("1", "true", "yes", "y", "on"):
        return True
    if low in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _Extend(argparse.Action):
    """argparse's ``extend``, except that the first use on a command line replaces the default (argparse would
    extend it: a ``--config`` list or a non-empty default plus the command line's items, where the command line must
    win)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = getattr(namespace, self.dest, None)
        if getattr(self, "_namespace", None) is not namespace:  # first use in this parse
            self._namespace, items = namespace, []
        setattr(namespace, self.dest, [*(items or []), *values])


def add_dataclass_arguments(parser: argparse.ArgumentParser, dtype: type, title: str | None = None) -> None:
    """Add one option per ``init`` field of the dataclass ``dtype`` to ``parser`` (in a group titled ``title``)."""
    hints = typing.get_type_hints(dtype)
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(dtype):
        if not f.init or f.name.startswith("_"):
            continue
        md = dict(f.metadata)
        if md.get("skip"):
            continue
        spec = _field_spec(dtype, f, hints[f.name], md)
        if md.get("positional"):
            _add_positional(group, f.name, spec, md)
        else:
            _add_option(group, f.name, spec, md)


@dataclasses.dataclass
class _FieldSpec:
    """What one dataclass field becomes on the command line: argparse keywords and the facts the spellings need."""

    kwargs: dict[str, Any]
    type: Any
    is_list: bool
    has_default: bool
    default: Any


def _field_spec(dtype: type, f: dataclasses.Field, hint: Any, md: dict[str, Any]) -> _FieldSpec:
    """The argparse keywords of field ``f`` (type, nargs, choices, metavar, help) from its type hint and metadata.
    ``None`` is accepted as a default only; the command line has no way to spell it."""
    tp, _ = _unwrap_optional(hint)
    kwargs: dict[str, Any] = {"dest": f.name}
    if typing.get_origin(tp) is typing.Literal:
        md.setdefault("choices", typing.get_args(tp))
        tp = type(typing.get_args(tp)[0])
    if md.get("choices") is not None:
        kwargs["choices"] = list(md["choices"])
    if md.get("metavar"):
        kwargs["metavar"] = md["metavar"]
    has_default = f.default is not _MISSING or f.default_factory is not _MISSING
    default = f.default if f.default is not _MISSING else (f.default_factory() if has_default else None)
    is_list = typing.get_origin(tp) in (list, tuple)
    if is_list:
        (item,) = typing.get_args(tp)[:1] or (str,)
        kwargs["type"] = item
        kwargs["nargs"] = md.get("nargs", "+" if not has_default or md.get("positional") else "*")
        if not md.get("positional"):
            kwargs["action"] = _Extend  # `--hint A --hint B` and `--hint A B` both give [A, B]
    elif tp is bool:
        kwargs["type"] = _parse_bool
        kwargs["nargs"] = "?"
        kwargs["const"] = True
        kwargs["metavar"] = md.get("metavar", "{true,false}")
    elif tp in (int, float, str):
        kwargs["type"] = tp
    else:
        raise TypeError(f"{dtype.__name__}.{f.name}: unsupported option type {hint!r}")
    help_text = md.get("help", "")
    if has_default and default not in (None, [], ()) and not md.get("positional"):
        help_text += " (default: %(default)s)"
    kwargs["help"] = help_text.replace("%", "%%").replace("%%(default)s", "%(default)s")
    return _FieldSpec(kwargs, tp, is_list, has_default, default)


def _add_positional(group, name: str, spec: _FieldSpec, md: dict[str, Any]) -> None:
    """A positional argument, optionally also spelled ``md["option"]`` (``--model_name_or_path M``): both optional
    here, one required when parsed."""
    kwargs, has_default, default = dict(spec.kwargs), spec.has_default, spec.default
    if md.get("option"):
        has_default, default = True, None
        option_kwargs = {k: v for k, v in kwargs.items() if k not in ("nargs", "dest")}
        group.add_argument(md["option"], **option_kwargs, dest=_OPTION_PREFIX + name, default=None)
        kwargs["help"] = kwargs["help"] + f" (or {md['option']})"
    if has_default and not spec.is_list:
        kwargs["nargs"] = "?"
    if has_default:
        kwargs["default"] = default
    kwargs.pop("dest")
    group.add_argument(name, **kwargs)


def _add_option(group, name: str, spec: _FieldSpec, md: dict[str, Any]) -> None:
    """``--name-with-dashes``, ``--name_with_underscores`` and the field's aliases; a bool defaulting to True also
    gets its ``--no-`` spellings."""
    kwargs = dict(spec.kwargs)
    names = [f"--{name.replace('_', '-')}"]
    if "_" in name:
        names.append(f"--{name}")
    names += list(md.get("aliases", ()))
    if spec.has_default:
        kwargs["default"] = spec.default
    else:
        kwargs["required"] = True
    if spec.type is bool and spec.default is True:
        negatives = dict.fromkeys([f"--no-{name.replace('_', '-')}", f"--no_{name}"])  # both spellings
        group.add_argument(*negatives, dest=name, action="store_false", help=argparse.SUPPRESS)
    group.add_argument(*names, **kwargs)


_OPTION_PREFIX = "option__"  # the dest of a positional's option spelling
_TRAINER_PREFIX = "trainer__"  # the dest of a TrainingArguments field reached under its own name


def _fields(dtype: type) -> list[dataclasses.Field]:
    return [
        f for f in dataclasses.fields(dtype) if f.init and not f.name.startswith("_") and not f.metadata.get("skip")
    ]


def dataclasses_from_namespace(namespace: argparse.Namespace, dtypes: Sequence[type]) -> tuple[Any, ...]:
    """Build each dataclass of ``dtypes`` from the parsed values, numbers checked first (:func:`check_numbers`), then
    each ``__post_init__`` validates."""
    trainer_args = {k[len(_TRAINER_PREFIX) :]: v for k, v in vars(namespace).items() if k.startswith(_TRAINER_PREFIX)}
    check_trainer_numbers(trainer_args)
    all_values = []
    for dtype in dtypes:  # every number is checked before any dataclass validates the rest
        values = {}
        for f in _fields(dtype):
            value = getattr(namespace, f.name, None)
            alt = getattr(namespace, _OPTION_PREFIX + f.name, None)
            if f.metadata.get("option") and alt is not None:
                if value not in (None, []) and value != alt:
                    raise HfnetError(f"{f.name} given twice ({value!r} and {f.metadata['option']} {alt!r}): keep one")
                value = alt
            if f.metadata.get("option") and value in (None, []):
                raise HfnetError(f"missing {f.name.upper()}: pass it first or as {f.metadata['option']}")
            values[f.name] = value
        check_numbers(dtype, values)
        if getattr(dtype, "TRAINER_OPTIONS", False):
            values["trainer_args"] = dict(trainer_args)
        all_values.append(values)
    return tuple(dtype(**values) for dtype, values in zip(dtypes, all_values))


def _rule(md: dict[str, Any], is_int: bool) -> tuple[Any, Any, bool, bool]:
    low = md.get("min", 0 if is_int else None)
    return low, md.get("max"), bool(md.get("min_open")), bool(md.get("max_open"))


def _check_number(option: str, value: Any, is_int: bool, low: Any, high: Any, low_open: bool, high_open: bool):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HfnetError(f"{option} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise HfnetError(f"{option} must be a finite number, got {value}")
    if is_int and float(value) != int(value):
        raise HfnetError(f"{option} must be an integer, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        if low is not None and high is not None:
            rule = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            rule = f"{'>' if low_open else '>='} {low}"
        else:
            rule = f"{'<' if high_open else '<='} {high}"
        raise HfnetError(f"{option} must be {rule}, got {value}")


def check_numbers(dtype: type, values: dict[str, Any]) -> None:
    """Refuse a non-finite number, a negative integer (unless the field's ``min`` allows it) or one outside the
    field's declared range, naming the option and the rule (raised as :class:`HfnetError`)."""
    hints = typing.get_type_hints(dtype)
    for f in _fields(dtype):
        tp, _ = _unwrap_optional(hints[f.name])
        items = typing.get_args(tp) if typing.get_origin(tp) in (list, tuple) else None
        kind = items[0] if items else tp
        if kind not in (int, float) or values.get(f.name) is None:
            continue
        option = f"--{f.name.replace('_', '-')}"
        for value in values[f.name] if items else [values[f.name]]:
            _check_number(option, value, kind is int, *_rule(dict(f.metadata), kind is int))


_TRAINER_KINDS = {name: (kind, default) for name, kind, default, _, _ in TRAINER_FIELDS}


def check_trainer_numbers(trainer_args: dict[str, Any]) -> None:
    """:func:`check_numbers` for the ``TrainingArguments`` fields given under their own names."""
    for name, value in trainer_args.items():
        kind, default = _TRAINER_KINDS.get(name, (None, None))
        if kind in ("int", "float") and value is not None:
            low = -1 if isinstance(default, (int, float)) and default < 0 else 0
            _check_number(f"--{name}", value, kind == "int", low, None, False, False)


def config_dict(*options: Any) -> dict[str, Any]:
    """The parsed option dataclasses as one flat ``{field: value}`` dict, the form ``--config FILE`` reads back.

    Model cards record this dict, so the settings of a result can be passed back to rebuild the same options.
    """
    out: dict[str, Any] = {}
    for opt in options:
        for f in _fields(type(opt)):
            out[f.name] = getattr(opt, f.name)
        out.update(getattr(opt, "trainer_args", None) or {})
    return out


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The flat ``{option: value}`` mapping of a ``--config`` file (``.json``, or YAML for any other name)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text()
    except OSError as e:
        raise HfnetError(f"--config {path}: cannot read it ({e.strerror or e}); name a YAML or JSON file") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise HfnetError(f"--config {path}: not valid JSON ({e})") from None
    else:
        import yaml  # PyYAML, a dependency of huggingface_hub and datasets; only --config needs it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise HfnetError(f"--config {path}: not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HfnetError(f"--config {path}: expected a mapping of option names to values, got {type(data).__name__}")
    return data


def _check_unique(dtypes: Sequence[type]) -> None:
    seen: dict[str, str] = {}
    for dtype in dtypes:
        for f in dataclasses.fields(dtype):
            if f.init and f.name in seen:
                raise TypeError(f"option {f.name!r} is declared by both {seen[f.name]} and {dtype.__name__}")
            seen[f.name] = dtype.__name__


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` from dataclass declarations, HfArgumentParser-compatible, without importing transformers."""

    def __init__(self, dataclass_types: Sequence[type] = (), **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)
        self.dataclass_types = tuple(dataclass_types)
        _check_unique(self.dataclass_types)
        self.add_argument(
            "--config",
            metavar="FILE",
            help="YAML or JSON file of option values ({option: value}, option names as below, e.g. the config a "
            "model card records); options given on the command line win.",
        )
        for dtype in self.dataclass_types:
            add_dataclass_arguments(self, dtype, _group_title(dtype))
        if any(getattr(d, "TRAINER_OPTIONS", False) for d in self.dataclass_types):
            add_trainer_arguments(self)

    def error(self, message: str) -> typing.NoReturn:
        """A usage error (unknown option, bad value) is one :class:`HfnetError` line (exit 1), like every other."""
        raise HfnetError(f"{message} (see {self.prog} --help)")

    def parse_args_into_dataclasses(self, args: Sequence[str] | None = None) -> tuple[Any, ...]:
        """Parse ``args`` (after the values of ``--config FILE``, if given) into the declared dataclasses."""
        args = list(sys.argv[1:] if args is None else args)
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config")
        known, _ = pre.parse_known_args(args)
        if known.config:
            self.apply_config(load_config(known.config), source=known.config)
        return dataclasses_from_namespace(self.parse_args(args), self.dataclass_types)

    def apply_config(self, values: dict[str, Any], source: str = "--config") -> None:
        """Make ``values`` (keyed by any option spelling without dashes) the defaults; required options they name
        become optional."""
        by_name: dict[str, argparse.Action] = {}
        for action in self._actions:
            if (
                action.dest in (argparse.SUPPRESS, "help", "config")
                or action.default == argparse.SUPPRESS
                and not (action.dest.startswith(_TRAINER_PREFIX))
            ):
                continue
            if isinstance(action, argparse._StoreFalseAction):
                continue
            names = [action.dest.removeprefix(_TRAINER_PREFIX)]
            names += [o.lstrip("-") for o in action.option_strings]
            for name in names:
                by_name.setdefault(name, action)
                by_name.setdefault(name.replace("-", "_"), action)
        for key, value in values.items():
            action = by_name.get(str(key))
            if action is None:
                raise HfnetError(f"{source}: unknown option {key!r}; use the option names `--help` lists")
            action.default = _convert(action, value, source, key)
            action.required = False
            for other in self._actions:  # --no-X stores into the same dest: its default must agree
                if other.dest == action.dest and other is not action:
                    other.default = action.default
            if not action.option_strings:  # a positional: now optional
                action.nargs = "*" if action.nargs in ("+", "*") else "?"


def _convert(action: argparse.Action, value: Any, source: str, key: str) -> Any:
    """A config value as the option's type would have parsed it (YAML reads ``1e-3`` as text)."""
    convert = action.type
    if value is None or convert is None or convert is str:
        return value
    try:
        if isinstance(value, list):
            return [convert(v) if isinstance(v, str) else v for v in value]
        return convert(value) if isinstance(value, str) else value
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        raise HfnetError(f"{source}: {key}: {e}") from None


def _parse_json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


_TRAINER_TYPES = {
    "bool": _parse_bool,
    "int": int,
    "float": float,
    "str": str,
    "list": str,
    "json": _parse_json_or_text,
}


def add_trainer_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per ``transformers.TrainingArguments`` field under its own name (``--lr_scheduler_type``), for
    those not already declared (hfnet's names are aliases of theirs: ``--epochs`` is ``--num_train_epochs``)."""
    group = parser.add_argument_group(
        "Trainer settings: every transformers.TrainingArguments field, under its own name "
        "(the job's own settings above win where both exist)"
    )
    taken = set(parser._option_string_actions)
    for name, kind, default, choices, help_text in TRAINER_FIELDS:
        if f"--{name}" in taken or name in _TRAINER_OWNED:
            continue
        kwargs: dict[str, Any] = {
            "dest": _TRAINER_PREFIX + name,
            "default": argparse.SUPPRESS,
            "metavar": name.upper(),
        }
        kwargs["type"] = _TRAINER_TYPES[kind]
        if kind == "bool":
            kwargs.update(nargs="?", const=True, metavar="{true,false}")
        elif kind == "list":
            kwargs["nargs"] = "+"
        if choices:
            kwargs["choices"] = list(choices)
        shown = "" if default in (None, "", [], {}) else f" (transformers default: {default})"
        kwargs["help"] = (help_text + shown).replace("%", "%%")
        group.add_argument(f"--{name}", **kwargs)


# TrainingArguments fields an hfnet job sets itself: the output folder and the Hub settings are hfnet's own
# (OutputArguments), where the Trainer would write checkpoints and push on its own
_TRAINER_OWNED = frozenset(
    {"output_dir", "push_to_hub", "hub_model_id", "hub_private_repo", "hub_token", "hub_strategy"}
)


def _group_title(dtype: type) -> str:
    doc = (dtype.__doc__ or "").strip().splitlines()
    first = doc[0].rstrip(".") if doc and not doc[0].startswith(dtype.__name__ + "(") else dtype.__name__
    return first[:1].lower() + first[1:]


def with_defaults(dtype: type, name: str | None = None, **defaults: Any) -> type:
    """A subclass of the dataclass ``dtype`` whose listed fields have other defaults (help texts kept).

    Jobs share one declaration of, say, the training options and differ only in a default learning rate.
    """
    fields_ = []
    by_name = {f.name: f for f in dataclasses.fields(dtype)}
    for key, value in defaults.items():
        if key not in by_name:
            raise TypeError(f"{dtype.__name__} has no field {key!r}")
        f = by_name[key]
        fields_.append((key, f.type, field(default=value, metadata=f.metadata)))
    cls = dataclasses.make_dataclass(name or dtype.__name__, fields_, bases=(dtype,))
    cls.__module__ = dtype.__module__
    cls.__doc__ = dtype.__doc__
    return cls


# ---------------------------------------------------------------------- options shared by several jobs
@dataclass
class DatasetArguments:
    """Dataset: which images and labels."""

    dataset: str = field(
        metadata={
            "help": "digits | fashion_mnist | mnist | a Hub dataset id | an imagefolder path",
            "aliases": ("--dataset_name", "--dataset-name"),
        },
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (detected when omitted)."})
    label_column: str | None = field(default=None, metadata={"help": "Label column (detected when omitted)."})
    samples_per_class: int | None = field(
        default=None, metadata={"help": "Keep at most this many train images per class (seeded).", "min": 1}
    )
    test_samples_per_class: int | None = field(
        default=None, metadata={"help": "Keep at most this many test images per class (seeded).", "min": 1}
    )

    def __post_init__(self) -> None:
        for name in ("samples_per_class", "test_samples_per_class"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise HfnetError(f"--{name.replace('_', '-')} must be >= 1, got {value}")

    def load(self, seed: int = 0):
        """The ``DatasetDict`` (train/test) these options name."""
        from hfnet.data import load_image_dataset

        return load_image_dataset(
            self.dataset,
            image_column=self.image_column,
            label_column=self.label_column,
            samples_per_class=self.samples_per_class,
            test_samples_per_class=self.test_samples_per_class,
            seed=seed,
        )


@dataclass
class TrainingOptions:
    """Training: the Trainer settings every fine-tuning job takes (any other TrainingArguments field: see below)."""

    TRAINER_OPTIONS: typing.ClassVar[bool] = True  # the parser adds every other TrainingArguments field

    epochs: float = field(
        default=1.0,
        metadata={"help": "Training epochs.", "min": 0, "aliases": ("--num_train_epochs", "--num-train-epochs")},
    )
    max_steps: int = field(
        default=-1,
        metadata={"help": "Stop after this many optimizer steps (overrides epochs); -1: no limit.", "min": -1},
    )
    batch_size: int = field(
        default=32,
        metadata={
            "help": "Per-device training batch size.",
            "min": 1,
            "aliases": ("--per_device_train_batch_size", "--per-device-train-batch-size"),
        },
    )
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Peak learning rate (AdamW, linear decay).", "min": 0, "min_open": True}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "min": 0})
    warmup_ratio: float = field(
        default=0.0, metadata={"help": "Fraction of the steps spent warming up.", "min": 0, "max": 1, "max_open": True}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step.", "min": 1})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 mixed precision."})
    seed: int = field(default=0, metadata={"help": "Random seed (data order, initialisation, subsampling)."})
    logging_steps: int = field(default=10, metadata={"help": "Log the losses every this many steps.", "min": 1})
    use_cpu: bool = field(
        default=False,
        metadata={"help": "Run on the CPU even with a GPU (with accelerate launch --multi_gpu: a gloo CPU run)."},
    )
    report_to: str = field(
        default="none",
        metadata={"help": "Where the Trainer reports: none, tensorboard, wandb, ... (comma-separated)."},
    )
    logging_dir: str = field(
        default="runs",
        metadata={"help": "With --report-to tensorboard: the event files go into a dated folder under this one."},
    )

    trainer_args: dict[str, Any] = field(
        default_factory=dict,
        metadata={"skip": True, "help": "Any other TrainingArguments fields, by their own names (parsed apart)."},
    )

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise HfnetError(f"--epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise HfnetError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.gradient_accumulation_steps < 1:
            raise HfnetError(f"--gradient-accumulation-steps must be >= 1, got {self.gradient_accumulation_steps}")
        if self.learning_rate <= 0:
            raise HfnetError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise HfnetError(f"--warmup-ratio must lie in [0, 1), got {self.warmup_ratio}")

    @property
    def trains(self) -> bool:
        """Whether any training is asked for (``--epochs 0 --max-steps 0``: none)."""
        return self.epochs > 0 or self.max_steps > 0

    @property
    def report_to_list(self) -> list[str]:
        names = [r.strip() for r in self.report_to.split(",") if r.strip()]
        return [] if names in ([], ["none"]) else names

    def training_arguments_kwargs(self, output_dir: str) -> dict[str, Any]:
        """Keyword arguments of ``transformers.TrainingArguments`` (or a subclass) for these options.

        hfnet's jobs give the Trainer a temporary ``output_dir`` (it saves no checkpoints there), so TensorBoard's
        default place (``output_dir/runs``) would vanish: its event files go to ``logging_dir/<date-time>`` instead,
        unless ``TENSORBOARD_LOGGING_DIR`` already says where.
        """
        if {"tensorboard", "all"} & set(self.report_to_list) and not os.environ.get("TENSORBOARD_LOGGING_DIR"):
            run = time.strftime("%Y%m%d-%H%M%S")
            os.environ["TENSORBOARD_LOGGING_DIR"] = str(Path(self.logging_dir).expanduser().resolve() / run)
        return dict(
            output_dir=output_dir,
            num_train_epochs=self.epochs,
            max_steps=self.max_steps,
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=max(self.batch_size, 64),
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            bf16=self.bf16,
            seed=self.seed,
            data_seed=self.seed,
            logging_steps=self.logging_steps,
            report_to=self.report_to_list,
            use_cpu=self.use_cpu,
            **self.trainer_args,
        )

    def to_training_arguments(self, output_dir: str, **overrides: Any):
        """``TrainingArguments`` for hfnet's runs (no Trainer checkpoints, all columns kept); ``overrides`` win."""
        from hfnet.training import default_training_arguments

        kwargs = {**self.training_arguments_kwargs(output_dir), **overrides}
        return default_training_arguments(
            kwargs.pop("output_dir"),
            epochs=kwargs.pop("num_train_epochs"),
            max_steps=kwargs.pop("max_steps"),
            batch_size=kwargs.pop("per_device_train_batch_size"),
            learning_rate=kwargs.pop("learning_rate"),
            seed=kwargs.pop("seed"),
            **kwargs,
        )


@dataclass
class OutputArguments:
    """Output: where the checkpoint goes, and the Hub."""

    output_dir: str = field(
        metadata={
            "help": "Folder for the result. A folder holding files hfnet did not write is refused unless --overwrite.",
            "aliases": ("--output",),
        }
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Write into an output folder that already holds other files (the current folder too: "
            "--output-dir . --overwrite): only the files hfnet writes are replaced, everything else stays. Your home "
            "folder and a filesystem root are refused either way."
        },
    )
    push_to_hub: bool = field(
        default=False, metadata={"help": "Upload the saved checkpoint to the Hub repo --hub-model-id."}
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "The Hub repo to push to, OWNER/NAME (created if needed)."}
    )
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        if not str(self.output_dir).strip():
            raise HfnetError("--output-dir is empty: name a folder for the result")
        if self.push_to_hub and not self.hub_model_id:
            raise HfnetError("--push-to-hub needs --hub-model-id OWNER/NAME")
        if self.hub_model_id is not None and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", self.hub_model_id):
            raise HfnetError(f"--hub-model-id must look like OWNER/NAME, got {self.hub_model_id!r}")

    def save_kwargs(self) -> dict[str, Any]:
        """The keyword arguments every saving library function takes (``run_pruning``, ``merge_models``, ...)."""
        return {
            "overwrite": self.overwrite,
            "push_to_hub": self.push_to_hub,
            "hub_model_id": self.hub_model_id,
            "private": self.private,
        }
