"""Job options declared once, as dataclasses, and the light parser both front ends build from them.

Every hfnet job (``hfnet prune`` and ``recipes/prune_vit.py``, ``hfnet distill`` and ``recipes/distill.py``, ...)
declares its options as dataclass fields (``field(default=..., metadata={"help": ...})``), in the shape
``transformers.HfArgumentParser`` reads. :class:`ArgumentParser` turns those declarations into ``argparse``
options without importing torch or transformers, so every ``--help`` answers at once, and
:meth:`ArgumentParser.parse_args_into_dataclasses` gives the dataclass instances back (their ``__post_init__``
validates, so a bad option fails before anything is loaded or written).

Field metadata understood besides ``help``: ``choices``, ``positional`` (a positional argument; ``nargs`` "+" for
lists), ``aliases`` (more option strings), ``metavar``. Each option is spelled ``--kebab-case`` and also accepts
``--snake_case`` (HfArgumentParser's spelling), so ``accelerate launch`` commands keep working.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import time
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfnet.errors import HfnetError

__all__ = [
    "ArgumentParser",
    "DatasetArguments",
    "OutputArguments",
    "TrainingOptions",
    "add_dataclass_arguments",
    "config_dict",
    "dataclasses_from_namespace",
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


def add_dataclass_arguments(parser: argparse.ArgumentParser, dtype: type, title: str | None = None) -> None:
    """Add one option per ``init`` field of the dataclass ``dtype`` to ``parser`` (in a group titled ``title``)."""
    hints = typing.get_type_hints(dtype)
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(dtype):
        if not f.init or f.name.startswith("_"):
            continue
        md = dict(f.metadata)
        tp, optional = _unwrap_optional(hints[f.name])
        kwargs: dict[str, Any] = {"dest": f.name}
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
                kwargs["action"] = "extend"  # `--hint A --hint B` and `--hint A B` both give [A, B]
        elif tp is bool:
            kwargs["type"] = _parse_bool
            kwargs["nargs"] = "?"
            kwargs["const"] = True
            kwargs["metavar"] = md.get("metavar", "{true,false}")
        elif tp in (int, float, str):
            kwargs["type"] = tp
        else:
            raise TypeError(f"{dtype.__name__}.{f.name}: unsupported option type {hints[f.name]!r}")
        help_text = md.get("help", "")
        if has_default and default not in (None, [], ()) and not md.get("positional"):
            help_text += " (default: %(default)s)"
        kwargs["help"] = help_text.replace("%", "%%").replace("%%(default)s", "%(default)s")
        if md.get("positional"):
            if has_default and not is_list:
                kwargs["nargs"] = "?"
            if has_default:
                kwargs["default"] = default
            kwargs.pop("dest")
            group.add_argument(f.name, **kwargs)
            continue
        names = [f"--{f.name.replace('_', '-')}"]
        if "_" in f.name:
            names.append(f"--{f.name}")
        names += list(md.get("aliases", ()))
        if has_default:
            kwargs["default"] = default
        else:
            kwargs["required"] = True
        if tp is bool and default is True:
            negatives = dict.fromkeys([f"--no-{f.name.replace('_', '-')}", f"--no_{f.name}"])  # both spellings
            group.add_argument(*negatives, dest=f.name, action="store_false", help=argparse.SUPPRESS)
        del optional  # ``None`` is accepted as a default only; the command line has no way to spell it
        group.add_argument(*names, **kwargs)


def dataclasses_from_namespace(namespace: argparse.Namespace, dtypes: Sequence[type]) -> tuple[Any, ...]:
    """Build each dataclass of ``dtypes`` from the parsed values (their ``__post_init__`` validates)."""
    out = []
    for dtype in dtypes:
        values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(dtype) if f.init}
        out.append(dtype(**values))
    return tuple(out)


def config_dict(*options: Any) -> dict[str, Any]:
    """The parsed option dataclasses as one flat ``{field: value}`` dict, the form ``--config FILE`` reads back.

    Model cards record this dict, so the settings of a result can be passed back to rebuild the same options.
    """
    out: dict[str, Any] = {}
    for opt in options:
        for f in dataclasses.fields(opt):
            if f.init and not f.name.startswith("_"):
                out[f.name] = getattr(opt, f.name)
    return out


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
        super().__init__(**kwargs)
        self.dataclass_types = tuple(dataclass_types)
        _check_unique(self.dataclass_types)
        for dtype in self.dataclass_types:
            add_dataclass_arguments(self, dtype, _group_title(dtype))

    def parse_args_into_dataclasses(self, args: Sequence[str] | None = None) -> tuple[Any, ...]:
        return dataclasses_from_namespace(self.parse_args(args), self.dataclass_types)


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
        metadata={"help": "digits | fashion_mnist | mnist | a Hub dataset id | an imagefolder path"},
    )
    image_column: str | None = field(default=None, metadata={"help": "Image column (detected when omitted)."})
    label_column: str | None = field(default=None, metadata={"help": "Label column (detected when omitted)."})
    samples_per_class: int | None = field(
        default=None, metadata={"help": "Keep at most this many train images per class (seeded)."}
    )
    test_samples_per_class: int | None = field(
        default=None, metadata={"help": "Keep at most this many test images per class (seeded)."}
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
    """Training: the Trainer settings every fine-tuning job takes (more via the Python API)."""

    epochs: float = field(default=1.0, metadata={"help": "Training epochs."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (overrides epochs)."})
    batch_size: int = field(default=32, metadata={"help": "Per-device training batch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate (AdamW, linear decay)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Fraction of the steps spent warming up."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 mixed precision."})
    seed: int = field(default=0, metadata={"help": "Random seed (data order, initialisation, subsampling)."})
    logging_steps: int = field(default=10, metadata={"help": "Log the losses every this many steps."})
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

    def __post_init__(self) -> None:
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
            "help": "Write into an output folder that already holds other files: only the files hfnet writes are "
            "replaced, everything else stays. The current, home and root folders are refused either way."
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
