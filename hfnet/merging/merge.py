"""Merge Hub-format checkpoints tensor by tensor, streaming from their weight files.

:func:`run` is the job (``hfnet merge``, ``recipes/merge_models.py``): validate, resolve the parents, check their
shapes and class names, align (optional), stream the merged tensors, recompute BatchNorm (optional), evaluate, card,
save, push. Only one tensor of each parent is read at a time (:class:`hfnet.checkpoint.CheckpointReader`, single or
sharded safetensors or ``.bin``), so peak memory stays near the merged output (one model) plus one tensor per
parent, not N models; ``benchmarks/merging`` measures it. With ``align`` each parent is matched to the first one by
weight matching before streaming (that step holds two models at a time). :func:`merge_models` is the same job with
Python arguments and in-memory datasets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from huggingface_hub import snapshot_download
from torch import Tensor
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForImageClassification

from hfnet.cards import CARD_FILE, ModelCardInfo, display_name, source_license
from hfnet.checkpoint import CheckpointReader, checkpoint_files, save_state_dict
from hfnet.classifier import HubClassifier, class_names_from_config, load_classifier
from hfnet.data import load_image_dataset
from hfnet.errors import HfnetError
from hfnet.finish import SaveOptions, finish
from hfnet.hub import detect_library, hub_error, resolve_model
from hfnet.merging.align import weight_matching
from hfnet.merging.batchnorm import recompute_batchnorm
from hfnet.merging.config import MergeConfig
from hfnet.merging.permutations import classifier_permutation_spec, permute_tensor
from hfnet.merging.registry import MergeMethod, check_weights, get_merge_method
from hfnet.merging.ties import model_trim_threshold

logger = logging.getLogger(__name__)

__all__ = ["MergeReport", "ModelSource", "merge_models", "resolve_source", "run"]

REPORT_FILE = "hfnet_merge.json"


@dataclass
class ModelSource:
    """A parent checkpoint: the name it was given, its local folder, parsed config and library."""

    name: str
    folder: Path
    config: dict[str, Any]
    library: str
    repo_id: str | None = None  # the Hub repo it came from; None for a local folder

    @property
    def label(self) -> str:
        """How results name it: the Hub id, or the folder's name (never a local path)."""
        return self.repo_id or self.folder.name

    @property
    def card_name(self) -> str:
        """What a card's :func:`~hfnet.cards.display_name` gets: the Hub id, or the folder (shown by its name)."""
        return self.repo_id or str(self.folder)

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture" if self.library == "timm" else "model_type"))

    @property
    def class_names(self) -> list[str] | None:
        return class_names_from_config(self.config, self.library)


@dataclass
class MergeReport:
    """What :func:`run` did (also written to ``hfnet_merge.json``, without local paths, and to the model card)."""

    output: str
    method: str
    models: list[str]
    weights: list[float] | None
    base: str | None
    options: dict[str, Any]
    head_policy: str
    head_tensors: list[str] = field(default_factory=list)
    mismatched_tensors: list[str] = field(default_factory=list)
    copied_integer_tensors: list[str] = field(default_factory=list)
    num_tensors: int = 0
    align: bool = False
    alignment: list[dict[str, Any]] = field(default_factory=list)
    batchnorm_dataset: str | None = None
    batchnorm_layers_recomputed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    hub_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Parents:
    """The resolved inputs: the parents, the base, and the parent whose head / config / labels the result takes."""

    sources: list[ModelSource]
    base: ModelSource | None
    head_index: int

    @property
    def everyone(self) -> list[ModelSource]:
        return [*self.sources, *([self.base] if self.base else [])]

    @property
    def config_source(self) -> ModelSource:
        return self.sources[self.head_index]


@dataclass
class _Plan:
    """The tensors to merge, in module order, and which of them are the classifier head."""

    keys: list[str]
    head_tensors: list[str]
    mismatched: list[str]
    take_head: bool


# ---------------------------------------------------------------------- 1. validate
def validate(config: MergeConfig, save: SaveOptions) -> MergeMethod:
    """The method's own rules (base, number of models, options) and the output folder, before anything is read."""
    method = get_merge_method(config.method)
    n = len(config.models)
    if method.max_models is not None and n > method.max_models:
        raise HfnetError(f"method '{config.method}' merges at most {method.max_models} models, got {n}")
    if method.needs_base and config.base is None:
        raise HfnetError(f"method '{config.method}' needs --base: the model the merged models were fine-tuned from")
    if config.base is not None and not method.needs_base:
        raise HfnetError(
            f"method '{config.method}' does not use a base model; drop --base or use task_arithmetic / ties"
        )
    unknown = set(config.options) - set(method.options)
    if unknown:
        raise HfnetError(f"method '{config.method}' takes no option(s) {sorted(unknown)}; it takes {method.options}")
    if save.output_dir is None:
        raise HfnetError("a merge writes a checkpoint: name its folder (--output-dir DIR)")
    save.check()
    return method


# ---------------------------------------------------------------------- 2. resolve
def resolve_source(name_or_path: str | os.PathLike) -> ModelSource:
    """A parent's folder and config: a local Hub-format folder, or a Hub id (downloaded / from the cache)."""
    folder, repo_id, config = resolve_model(name_or_path)
    if folder is None:
        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.bin", "*.txt"]))
        except Exception as e:  # noqa: BLE001 - every Hub failure becomes one clear line
            raise hub_error(repo_id, e) from e
    return ModelSource(str(name_or_path), folder, config, detect_library(config), repo_id)


def _pick(models: Sequence[ModelSource], which: str | int | None, what: str) -> int:
    if which is None:
        return 0
    if isinstance(which, int):
        if not 0 <= which < len(models):
            raise HfnetError(f"{what} index {which} is out of range for {len(models)} models")
        return which
    for i, m in enumerate(models):
        if which in (m.name, m.repo_id):
            return i
    target = Path(which).expanduser()
    for i, m in enumerate(models):
        if target.exists() and target.resolve() == m.folder.resolve():
            return i
    raise HfnetError(f"{what} '{which}' is not one of the models being merged: {[m.label for m in models]}")


def resolve_parents(config: MergeConfig, save: SaveOptions) -> _Parents:
    """Every parent (and the base) found, of one architecture, none of them the output folder."""
    sources = [resolve_source(m) for m in config.models]
    base = resolve_source(config.base) if config.base is not None else None
    parents = _Parents(sources, base, _pick(sources, config.head_from, "--head-from"))
    ref = sources[0]
    for s in parents.everyone[1:]:
        if s.library != ref.library or s.architecture != ref.architecture:
            raise HfnetError(
                f"cannot merge different architectures: {ref.label} is a {ref.library} {ref.architecture}, "
                f"{s.label} is a {s.library} {s.architecture}"
            )
    out = Path(save.output_dir).expanduser().resolve()
    for s in parents.everyone:
        if s.folder.resolve() == out:
            raise HfnetError(f"--output {out} is one of the input models; choose another folder")
    return parents


# ---------------------------------------------------------------------- 3. shape and class-name checks
def _skeleton(source: ModelSource) -> HubClassifier:
    """The parent's model built on the meta device (no weights read): to name the classifier head."""
    with torch.device("meta"):
        if source.library == "timm":
            model = timm.create_model(f"local-dir:{source.folder}", pretrained=False)
        else:
            model = AutoModelForImageClassification.from_config(AutoConfig.from_pretrained(source.folder))
    return HubClassifier.from_model(model)


def _shapes(source: ModelSource) -> dict[str, tuple[int, ...]]:
    with CheckpointReader(source.folder) as reader:
        return {k: reader.shape(k) for k in reader.keys()}


def check_shapes(parents: _Parents, config: MergeConfig, skeleton: HubClassifier) -> _Plan:
    """Same tensors, same shapes (the head excepted, when a head policy says which head to keep)."""
    everyone = parents.everyone
    shapes = [_shapes(s) for s in everyone]
    head_prefix = skeleton.head_name + "."
    order = {k: i for i, k in enumerate(skeleton.model.state_dict())}
    # module order (as in the model's state_dict), so "first mismatched tensor" means first in the network
    keys = sorted(shapes[0], key=lambda k: (order.get(k, len(order)), k))
    extras = sorted({k for other in shapes[1:] for k in other if k not in shapes[0]})
    mismatched: list[str] = []
    for key in keys + extras:
        for i, other in enumerate(shapes):
            if key not in other:
                owner = next(j for j, s in enumerate(shapes) if key in s)
                raise HfnetError(
                    f"cannot merge different architectures: first mismatched tensor '{key}' of "
                    f"{everyone[owner].label} is missing from {everyone[i].label}"
                )
        if len({s[key] for s in shapes}) > 1:
            if not key.startswith(head_prefix):
                desc = ", ".join(f"{s.label}: {list(sh[key])}" for s, sh in zip(everyone, shapes))
                raise HfnetError(f"cannot merge different architectures: first mismatched tensor '{key}' ({desc})")
            mismatched.append(key)
    take_head = config.head_from is not None or config.reinit_head
    if mismatched and not take_head:
        raise HfnetError(
            f"the classifier heads differ in shape ({mismatched[0]}: label sets of different sizes); pass "
            "--head-from MODEL to take the head (and labels) from one model, or --reinit-head to re-initialise it"
        )
    return _Plan(keys, [k for k in keys if k.startswith(head_prefix)], mismatched, take_head)


def check_class_names(parents: _Parents, plan: _Plan) -> None:
    """Heads merged like other tensors only when every parent names the same classes in the same order."""
    if plan.take_head:
        return
    ref = parents.sources[0]
    for s in parents.sources[1:]:
        if ref.class_names is not None and s.class_names is not None and s.class_names != ref.class_names:
            shown = next(i for i, (a, b) in enumerate(zip(ref.class_names, s.class_names)) if a != b)
            raise HfnetError(
                f"the parents' class names differ ({ref.label} has '{ref.class_names[shown]}' where {s.label} has "
                f"'{s.class_names[shown]}' at index {shown}): averaging their heads would mix different classes; "
                "pass --head-from MODEL to keep one parent's head and labels, or --reinit-head"
            )


# ---------------------------------------------------------------------- 4. align
def align_parents(parents: _Parents, config: MergeConfig, report: MergeReport):
    """Permutations onto the first parent by weight matching (per parent; None for the first), and its spec."""
    perms: list[dict[int, Tensor] | None] = [None] * len(parents.sources)
    if not config.align:
        return None, perms
    spec = classifier_permutation_spec(load_classifier(parents.sources[0].folder))
    with CheckpointReader(parents.sources[0].folder) as reader:
        state_a = reader.state_dict()
    for i, s in enumerate(parents.sources[1:], start=1):
        with CheckpointReader(s.folder) as reader:
            state_b = reader.state_dict()
        result = weight_matching(spec, state_a, state_b, seed=config.seed)
        perms[i] = result.perms
        report.alignment.append(
            {
                "model": s.label,
                "iterations": result.iterations,
                "similarity_before": result.similarity_before,
                "similarity_after": result.similarity_after,
            }
        )
        del state_b
    return spec, perms


# ---------------------------------------------------------------------- 5. stream
def _call(method: MergeMethod, tensors: list[Tensor], weights, base: Tensor | None, options: dict[str, Any]) -> Tensor:
    if "thresholds" in options:  # computed by the job, not a user option
        return method.fn(tensors, base, weights, **options)
    return method(tensors, weights, base, **options)


def _ties_model_thresholds(read, base_reader, plan: _Plan, num_models: int, density: float) -> list[float]:
    """TIES ``trim="model"``: per model, the trim threshold over its whole task vector (the merged tensors).

    One model's task vector is held at a time (a streaming pass per model before the merge pass).
    """
    thresholds = []
    for i in range(num_models):
        taus = []
        for key in plan.keys:
            if key in plan.head_tensors and plan.take_head:
                continue
            t = read(i, key)
            if t.is_floating_point():
                taus.append(t.to(torch.float32) - base_reader.get_tensor(key).to(torch.float32))
        thresholds.append(model_trim_threshold(taus, density))
        del taus
    return thresholds


def stream(parents: _Parents, plan: _Plan, config: MergeConfig, method: MergeMethod, report: MergeReport):
    """The merged state dict, read one tensor per parent at a time."""
    spec, perms = align_parents(parents, config, report)
    weights = report.weights
    options = dict(config.options)
    merged: dict[str, Tensor] = {}
    generator = torch.Generator().manual_seed(config.seed)
    h = parents.head_index
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(CheckpointReader(s.folder)) for s in parents.sources]
        base_reader = stack.enter_context(CheckpointReader(parents.base.folder)) if parents.base else None

        def read(i: int, key: str) -> Tensor:
            t = readers[i].get_tensor(key)
            return t if perms[i] is None else permute_tensor(key, t, spec, perms[i])

        if config.method == "ties" and options.get("trim") == "model":
            options["thresholds"] = _ties_model_thresholds(
                read, base_reader, plan, len(readers), options.get("density", 0.2)
            )
            report.options = {**config.options, "trim_thresholds": list(options["thresholds"])}
        for key in tqdm(plan.keys, desc=f"merge ({config.method})", disable=len(plan.keys) < 50):
            first = read(h, key)
            if key in plan.head_tensors and plan.take_head:
                merged[key] = _reinit(first, generator) if config.reinit_head else first.contiguous()
            elif not first.is_floating_point():
                merged[key] = first.contiguous()
                report.copied_integer_tensors.append(key)
            else:
                tensors = [first if i == h else read(i, key) for i in range(len(readers))]
                base = base_reader.get_tensor(key) if base_reader is not None else None
                merged[key] = _call(method, tensors, weights, base, options).contiguous()
                del tensors, base
    report.num_tensors = len(merged)
    return merged


def _reinit(t: Tensor, generator: torch.Generator) -> Tensor:
    """A re-initialised head tensor: weights normal (std 0.01), biases zero."""
    if t.dim() > 1:
        return torch.randn(t.shape, generator=generator, dtype=torch.float32).mul_(0.01).to(t.dtype)
    return torch.zeros_like(t)


# ---------------------------------------------------------------------- 6. write (+ BatchNorm)
def write_checkpoint(
    tmp: Path, parents: _Parents, merged: dict[str, Tensor], report: MergeReport, bn_data, config: MergeConfig
) -> HubClassifier | None:
    """Config and processor files of the head parent, the merged weights, BatchNorm recomputed, the report.

    Returns the written model when it was loaded (BatchNorm), else None.
    """
    source = parents.config_source
    skip = checkpoint_files(source.folder) | {CARD_FILE, REPORT_FILE}
    for f in source.folder.iterdir():
        if f.is_file() and f.name not in skip and not f.name.startswith("."):
            shutil.copyfile(f, tmp / f.name)  # not copy2: the new files follow the umask
    save_state_dict(merged, tmp, library=source.library)
    merged.clear()
    written = None
    if bn_data is not None:
        written = load_classifier(tmp)
        report.batchnorm_layers_recomputed = recompute_batchnorm(written, bn_data, max_samples=config.bn_samples)
        for name in checkpoint_files(tmp):
            (tmp / name).unlink()
        save_state_dict(written.model.state_dict(), tmp, library=source.library)
    (tmp / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2))
    return written


# ---------------------------------------------------------------------- 7. card
def merge_card(
    report: MergeReport, parents: _Parents, config: MergeConfig, metrics: Mapping[str, float], command: str | None
) -> ModelCardInfo:
    """The card: parents and weights, the settings (from the config), the measured results and lineage."""
    weights = report.weights or ["(default)"] * len(report.models)
    rows = "\n".join(
        f"| {i} | {display_name(s.card_name)} | {w} |" for i, (s, w) in enumerate(zip(parents.sources, weights))
    )
    details = f"| # | parent | weight |\n|---|---|---|\n{rows}\n"
    for a in report.alignment:
        details += (
            f"\n- alignment of {display_name(a['model'])} to {display_name(report.models[0])}: {a['iterations']} "
            f"iterations, weight inner product {a['similarity_before']:.4g} -> {a['similarity_after']:.4g}"
        )
    settings = {
        "method": f"`{report.method}`",
        **{f"option `{k}`": v for k, v in report.options.items() if k != "trim_thresholds"},
        "base model": display_name(parents.base.card_name) if parents.base else "none",
        "permutation alignment (weight matching)": "yes" if report.align else "no",
        "classifier head": f"{report.head_policy} ({len(report.head_tensors)} tensors)",
        "tensors with different shapes across parents": ", ".join(report.mismatched_tensors) or "none",
        "integer buffers copied, not averaged": len(report.copied_integer_tensors),
        "BatchNorm statistics recomputed on": (
            f"{report.batchnorm_dataset} (train split, at most {config.bn_samples} images; "
            f"{report.batchnorm_layers_recomputed} layers)"
            if report.batchnorm_dataset
            else "not recomputed"
        ),
    }
    licenses = {source_license(s.folder, s.repo_id) for s in parents.everyone}
    hub_parents = [s.repo_id for s in parents.everyone if s.repo_id]
    roles = [("parent", s.card_name) for s in parents.sources]
    roles += [("base", parents.base.card_name)] if parents.base else []
    datasets = [d for d in (report.batchnorm_dataset, config.eval_dataset) if d and d != _IN_MEMORY]
    return ModelCardInfo(
        title=f"Merge of {len(report.models)} models ({report.method})",
        summary=f"Produced by `hfnet merge` with method `{report.method}` from the parents listed below. "
        "No fine-tuning was done after merging unless stated; evaluate before use.",
        base_model=hub_parents or None,
        base_model_relation="merge",
        metrics={k: v for k, v in metrics.items() if k != "num_samples"},
        eval_dataset=config.eval_dataset if metrics else None,
        eval_split="test",
        datasets=list(dict.fromkeys(datasets)),
        parents=roles,
        license=licenses.pop() if len(licenses) == 1 else None,  # carried only when every parent has the same one
        command=command,
        config=_card_config(config, parents),
        tags=["merge", f"merge-{report.method}"],
        details=details,
        settings=settings,
        settings_title="Merge",
    )


def _card_config(config: MergeConfig, parents: _Parents) -> dict[str, Any]:
    """The config as the card records it: parents by Hub id or folder name."""
    out = asdict(config)
    out["models"] = [s.label for s in parents.sources]
    if parents.base:
        out["base"] = parents.base.label
    if isinstance(config.head_from, str):
        out["head_from"] = parents.config_source.label
    return out


# ---------------------------------------------------------------------- the job
_IN_MEMORY = "(a dataset given in Python)"


def _split(name: str | None, split: str, seed: int):
    if name is None:
        return None
    data = load_image_dataset(name, seed=seed)[split]
    return data.shuffle(seed=seed) if split == "train" else data


def run(
    config: MergeConfig,
    save: SaveOptions,
    *,
    bn_data=None,
    eval_data=None,
    command: str | None = None,
) -> MergeReport:
    """Merge ``config.models`` into ``save.output_dir`` (a Hub-format folder with a model card), then push.

    ``bn_data`` / ``eval_data``: in-memory datasets in place of ``config.bn_dataset`` (train split) and
    ``config.eval_dataset`` (test split).

    Raises:
        HfnetError: fewer than two models, unknown method, weights of the wrong length, different architectures
            (naming the first mismatched tensor), heads or class names differing without a head policy, an output
            folder holding other files; nothing is written then.
    """
    method = validate(config, save)
    parents = resolve_parents(config, save)
    skeleton = _skeleton(parents.config_source)
    plan = check_shapes(parents, config, skeleton)
    check_class_names(parents, plan)
    bn_data = bn_data if bn_data is not None else _split(config.bn_dataset, "train", config.seed)
    eval_data = eval_data if eval_data is not None else _split(config.eval_dataset, "test", config.seed)
    report = MergeReport(
        output=Path(save.output_dir).expanduser().resolve().name,
        method=config.method,
        models=[s.label for s in parents.sources],
        weights=check_weights(config.weights or None, len(config.models)),
        base=parents.base.label if parents.base else None,
        options=config.options,
        head_policy=(
            f"taken from {parents.config_source.label}" if config.head_from is not None else config.head_policy
        ),
        head_tensors=plan.head_tensors,
        mismatched_tensors=plan.mismatched,
        align=config.align,
        batchnorm_dataset=(config.bn_dataset or _IN_MEMORY) if bn_data is not None else None,
    )

    def write(tmp: Path) -> HubClassifier | None:
        merged = stream(parents, plan, config, method, report)
        written = write_checkpoint(tmp, parents, merged, report, bn_data, config)
        return written if written is not None or eval_data is None else load_classifier(tmp)

    done = finish(
        skeleton,
        save,
        lambda metrics: merge_card(report, parents, config, metrics, command),
        eval_dataset=eval_data,
        write=write,
    )
    report.metrics, report.hub_url = done.metrics, done.hub_url
    logger.info("merged %d models into %s", len(parents.sources), done.output_dir)
    return report


_OPTION_FIELDS = {"density": "density", "scale": "scale", "t": "t", "trim": "trim", "norm": "slerp_norm"}


def merge_models(
    models: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    method: str = "average",
    weights: Sequence[float] | None = None,
    base: str | os.PathLike | None = None,
    head_from: str | int | None = None,
    reinit_head: bool = False,
    align: bool = False,
    options: dict[str, Any] | None = None,
    batchnorm_dataset=None,
    batchnorm_samples: int = 1024,
    seed: int = 0,
    eval_dataset=None,
    dataset_name: str | None = None,
    overwrite: bool = False,
    push_to_hub: bool = False,
    hub_model_id: str | None = None,
    private: bool = False,
    command: str | None = None,
) -> MergeReport:
    """:func:`run` with Python arguments: in-memory ``batchnorm_dataset`` / ``eval_dataset`` (``dataset_name``
    names the latter in the card), method ``options`` as a dict (``density``, ``scale``, ``trim``, ``t``, ``norm``).

    See :class:`~hfnet.merging.config.MergeConfig` for the meaning of each setting.
    """
    options = dict(options or {})
    unknown = set(options) - set(_OPTION_FIELDS)
    if unknown:
        raise HfnetError(f"method '{method}' takes no option(s) {sorted(unknown)}")
    config = MergeConfig(
        models=[str(m) for m in models],
        method=method,
        weights=list(weights or []),
        base=str(base) if base is not None else None,
        head_from=head_from if isinstance(head_from, int) or head_from is None else str(head_from),
        reinit_head=reinit_head,
        align=align,
        bn_samples=batchnorm_samples,
        eval_dataset=dataset_name,
        seed=seed,
        **{_OPTION_FIELDS[k]: v for k, v in options.items()},
    )
    save = SaveOptions(str(output), overwrite, push_to_hub, hub_model_id, private)
    return run(config, save, bn_data=batchnorm_dataset, eval_data=eval_dataset, command=command)
