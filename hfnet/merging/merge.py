"""Merge Hub-format checkpoints tensor by tensor, streaming from safetensors.

Only one tensor of each parent is read at a time (with ``pread``, see ``_safetensors.py``), so peak memory stays near the merged output
(one model) plus one tensor per parent, not N models; ``benchmarks/merging`` measures it. With ``align=True`` each
parent is matched to the first one by weight matching before streaming (that step holds two models at a time).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hfnet.errors import HfnetError
from hfnet.merging._safetensors import SafetensorsReader
from hfnet.merging.registry import check_weights, get_merge_method

logger = logging.getLogger(__name__)

_SKIP_FILES = {
    "model.safetensors",
    "pytorch_model.bin",
    "README.md",
    "open_clip_model.safetensors",
    "hfnet_merge.json",
}


@dataclass
class ModelSource:
    """A parent checkpoint: where it came from, its local folder, weight file and parsed config."""

    name: str
    folder: Path
    weights: Path
    config: dict[str, Any]
    library: str
    repo_id: str | None = None  # the Hub repo it came from; None for a local folder

    @property
    def architecture(self) -> str:
        if self.library == "timm":
            return str(self.config.get("architecture"))
        return str(self.config.get("model_type"))

    @property
    def num_classes(self) -> int | None:
        if self.library == "timm":
            return self.config.get("num_classes")
        labels = self.config.get("id2label")
        return len(labels) if labels else self.config.get("num_labels")


@dataclass
class MergeReport:
    """What :func:`merge_models` did (also written to ``hfnet_merge.json`` and the model card)."""

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
    batchnorm_layers_recomputed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_source(name_or_path: str | os.PathLike) -> ModelSource:
    """Find a parent's config and safetensors file: a local Hub-format folder or a Hub id (downloaded/cached)."""
    from hfnet.hub import detect_library, resolve_model

    folder, repo_id, config = resolve_model(name_or_path)
    if folder is None:
        from huggingface_hub import snapshot_download

        from hfnet.hub import _hub_error

        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt"]))
        except Exception as e:  # noqa: BLE001
            raise _hub_error(repo_id, e) from e
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise HfnetError(
            f"{name_or_path} has no model.safetensors (only .bin weights?); merging streams safetensors: load it and "
            "re-save it with HubClassifier.save_pretrained first"
        )
    return ModelSource(str(name_or_path), folder, weights, config, detect_library(config), repo_id)


def _skeleton(source: ModelSource):
    """The parent's model built on the meta device (no weights read): to name the classifier head."""
    from hfnet.hub import HubClassifier

    with torch.device("meta"):
        if source.library == "timm":
            import timm

            model = timm.create_model(f"local-dir:{source.folder}", pretrained=False)
        else:
            from transformers import AutoConfig, AutoModelForImageClassification

            model = AutoModelForImageClassification.from_config(AutoConfig.from_pretrained(source.folder))
    return HubClassifier.from_model(model)


def _pick(models: Sequence[ModelSource], which: str | int | None, what: str) -> int:
    if which is None:
        return 0
    if isinstance(which, int):
        if not 0 <= which < len(models):
            raise HfnetError(f"{what} index {which} is out of range for {len(models)} models")
        return which
    for i, m in enumerate(models):
        if which == m.name:
            return i
    target = Path(which).expanduser()
    for i, m in enumerate(models):
        if target.exists() and target.resolve() == m.folder.resolve():
            return i
    raise HfnetError(f"{what} '{which}' is not one of the models being merged: {[m.name for m in models]}")


def _check_architectures(sources: Sequence[ModelSource]) -> None:
    ref = sources[0]
    for s in sources[1:]:
        if s.library != ref.library or s.architecture != ref.architecture:
            raise HfnetError(
                f"cannot merge different architectures: {ref.name} is a {ref.library} {ref.architecture}, "
                f"{s.name} is a {s.library} {s.architecture}"
            )


def _tensor_shapes(handle: SafetensorsReader) -> dict[str, tuple[int, ...]]:
    return {k: handle.shape(k) for k in handle.keys()}


def _write_card(
    folder: Path,
    report: MergeReport,
    library: str,
    *,
    sources: Sequence[ModelSource],
    base_source: ModelSource | None,
    folder_name: str,
    dataset_name: str | None = None,
    command: str | None = None,
) -> None:
    from hfnet._io import atomic_write_text
    from hfnet.cards import display_name, source_license
    from hfnet.hub import ModelCardInfo, render_model_card

    everyone = [*sources, *([base_source] if base_source else [])]
    head_policy = report.head_policy
    for s in everyone:
        if not s.repo_id:  # local parents by folder name, never their path
            head_policy = head_policy.replace(s.name, f"`{Path(s.name).name}`")
    weights = report.weights or ["(default)"] * len(report.models)
    rows = "\n".join(f"| {i} | {display_name(m)} | {w} |" for i, (m, w) in enumerate(zip(report.models, weights)))
    opts = ", ".join(f"{k}={v}" for k, v in report.options.items()) or "defaults"
    details = (
        f"| # | parent | weight |\n|---|---|---|\n{rows}\n\n"
        f"- method: `{report.method}` ({opts})\n"
        f"- base model: {display_name(report.base) if report.base else 'none'}\n"
        f"- permutation alignment (weight matching): {'yes' if report.align else 'no'}\n"
        f"- classifier head: {head_policy} ({len(report.head_tensors)} tensors)\n"
        f"- tensors with different shapes across parents: {report.mismatched_tensors or 'none'}\n"
        f"- integer buffers copied, not averaged: {len(report.copied_integer_tensors)}\n"
        f"- BatchNorm layers with statistics recomputed on data: {report.batchnorm_layers_recomputed}\n"
    )
    for a in report.alignment:
        details += (
            f"- alignment of {display_name(a['model'])} to {display_name(report.models[0])}: {a['iterations']} "
            f"iterations, weight inner product {a['similarity_before']:.4g} -> {a['similarity_after']:.4g}\n"
        )
    licenses = {source_license(s.folder, s.repo_id) for s in everyone}
    license = licenses.pop() if len(licenses) == 1 else None  # carried only when every parent has the same one
    hub_parents = [s.repo_id for s in everyone if s.repo_id]
    parents = [("parent", s.name) for s in sources] + ([("base", base_source.name)] if base_source else [])
    config = {
        "models": report.models,
        "method": report.method,
        "weights": report.weights,
        "base": report.base,
        "options": report.options,
        "head_policy": head_policy,
        "align": report.align,
    }
    info = ModelCardInfo(
        title=f"Merge of {len(report.models)} models ({report.method})",
        summary=f"Produced by `hfnet merge` with method `{report.method}` from the parents listed below. "
        "No fine-tuning was done after merging unless stated; evaluate before use.",
        base_model=hub_parents or None,
        base_model_relation="merge",
        metrics={k: v for k, v in report.metrics.items() if k != "num_samples"},
        eval_dataset=dataset_name if report.metrics else None,
        eval_split="test",
        datasets=[dataset_name] if dataset_name else [],
        parents=parents,
        license=license,
        command=command,
        config=config,
        tags=["merge", f"merge-{report.method}"],
        details=details,
    )
    atomic_write_text(folder / "README.md", render_model_card(info, library=library, folder_name=folder_name))


def _call(merge_method, tensors: list[Tensor], weights, base: Tensor | None, options: dict[str, Any]) -> Tensor:
    if "thresholds" in options:  # computed by merge_models, not a user option
        return merge_method.fn(tensors, base, weights, **options)
    return merge_method(tensors, weights, base, **options)


def _ties_model_thresholds(
    read, base_handle, keys: list[str], num_models: int, density: float, head_tensors: list[str], take_head: bool
) -> list[float]:
    """TIES ``trim="model"``: per model, the trim threshold over its whole task vector (the merged tensors).

    One model's task vector is held at a time (a streaming pass per model before the merge pass).
    """
    from hfnet.merging.ties import model_trim_threshold

    thresholds = []
    for i in range(num_models):
        taus = []
        for key in keys:
            if key in head_tensors and take_head:
                continue
            t = read(i, key)
            if not t.is_floating_point():
                continue
            taus.append(t.to(torch.float32) - base_handle.get_tensor(key).to(torch.float32))
        thresholds.append(model_trim_threshold(taus, density))
        del taus
    return thresholds


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
    """Merge same-architecture checkpoints into a Hub-format folder at ``output`` (with a model card).

    Args:
        models: two or more Hub-format folders or Hub ids of one timm/transformers architecture.
        output: the folder to write (written atomically: nothing appears on error).
        method: a registered merge method (``average``, ``task_arithmetic``, ``ties``, ``slerp``).
        weights: one weight per model (method-specific meaning; see the method's function).
        base: the common base model (task arithmetic, TIES).
        head_from: the model (name, path or index) whose classifier head, config and labels the output takes;
            required when heads have different shapes. Default: heads are merged like every other tensor when
            their shapes agree, config from the first model.
        reinit_head: re-initialise the head (normal, std 0.01; zero bias) in the shape of ``head_from``'s head.
        align: permute every model onto the first one by weight matching (Git Re-Basin) before merging.
        options: extra method options (``density``, ``scale``, ``trim`` for TIES: ``"tensor"`` or ``"model"``;
            ``t``, ``norm`` for SLERP).
        batchnorm_dataset: recompute BatchNorm statistics on these images after merging (raw or transformed).
        batchnorm_samples: at most this many images for the recomputation.
        seed: seed for the re-initialised head and for weight matching's visiting order.
        eval_dataset / dataset_name: evaluate the merged model on this (test) split before the card is written, so
            the card's model-index holds the measured accuracy (``dataset_name``: hfnet name or Hub dataset id).
        overwrite: write into an existing ``output`` folder that holds other files (only hfnet's are replaced).
        push_to_hub / hub_model_id / private: upload the result to the Hub repo ``hub_model_id``; a failed push
            keeps the local result and raises a one-line ``HfnetError``.
        command: the command line that reproduces this merge, shown in the card.

    Raises:
        HfnetError: fewer than two models, unknown method, weights of the wrong length, different architectures
            (naming the first mismatched tensor), head shapes differing without a head policy.
    """
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from hfnet._io import atomic_dir, check_output_dir

    if len(models) < 2:
        raise HfnetError(f"merging needs at least two models, got {len(models)}: pass two or more model folders/ids")
    merge_method = get_merge_method(method)
    weights = check_weights(weights, len(models))
    options = dict(options or {})
    if merge_method.max_models is not None and len(models) > merge_method.max_models:
        raise HfnetError(f"method '{method}' merges at most {merge_method.max_models} models, got {len(models)}")
    if merge_method.needs_base and base is None:
        raise HfnetError(f"method '{method}' needs --base: the model the merged models were fine-tuned from")
    if base is not None and not merge_method.needs_base:
        raise HfnetError(f"method '{method}' does not use a base model; drop --base or use task_arithmetic / ties")
    if align and base is not None:
        raise HfnetError(
            "--align is for independently trained models; models fine-tuned from a common --base share their units"
        )
    unknown = set(options) - set(merge_method.options)
    if unknown:
        raise HfnetError(f"method '{method}' takes no option(s) {sorted(unknown)}; it takes {merge_method.options}")

    if push_to_hub and not hub_model_id:
        raise HfnetError("push_to_hub needs hub_model_id (OWNER/NAME)")
    check_output_dir(output, overwrite=overwrite)  # refuse before any work

    sources = [resolve_source(m) for m in models]
    base_source = resolve_source(base) if base is not None else None
    _check_architectures(sources + ([base_source] if base_source else []))
    out_path = Path(output).expanduser().resolve()
    for s in sources + ([base_source] if base_source else []):
        if s.folder.resolve() == out_path:
            raise HfnetError(f"--output {out_path} is one of the input models; choose another folder")
    head_index = _pick(sources, head_from, "--head-from")
    config_source = sources[head_index]
    skeleton = _skeleton(config_source)
    head_prefix = skeleton.head_name + "."
    module_order = {k: i for i, k in enumerate(skeleton.model.state_dict())}
    del skeleton

    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(SafetensorsReader(s.weights)) for s in sources]
        base_handle = stack.enter_context(SafetensorsReader(base_source.weights)) if base_source else None
        shapes = [_tensor_shapes(h) for h in handles + ([base_handle] if base_handle else [])]
        names_all = [s.name for s in sources] + ([base_source.name] if base_source else [])
        # module order (as in the model's state_dict), so "first mismatched tensor" means first in the network
        ref_names = sorted(shapes[0], key=lambda k: (module_order.get(k, len(module_order)), k))
        extras = sorted({k for other in shapes[1:] for k in other if k not in shapes[0]})
        mismatched: list[str] = []
        for key in ref_names + extras:
            for i, other in enumerate(shapes):
                if key not in other:
                    owner = next(j for j, s in enumerate(shapes) if key in s)
                    raise HfnetError(
                        f"cannot merge different architectures: first mismatched tensor '{key}' of "
                        f"{names_all[owner]} is missing from {names_all[i]}"
                    )
            if len({s[key] for s in shapes}) > 1:
                if not key.startswith(head_prefix):
                    desc = ", ".join(f"{n}: {list(s[key])}" for n, s in zip(names_all, shapes))
                    raise HfnetError(f"cannot merge different architectures: first mismatched tensor '{key}' ({desc})")
                mismatched.append(key)
        if mismatched and head_from is None and not reinit_head:
            raise HfnetError(
                f"the classifier heads differ in shape ({mismatched[0]}: label sets of different sizes); pass "
                "--head-from MODEL to take the head (and labels) from one model, or --reinit-head to re-initialise it"
            )
        head_tensors = [k for k in ref_names if k.startswith(head_prefix)]
        take_head = head_from is not None or reinit_head

        report = MergeReport(
            output=str(out_path),
            method=method,
            models=[s.name for s in sources],
            weights=weights,
            base=base_source.name if base_source else None,
            options=options,
            head_policy=(
                "re-initialised"
                if reinit_head
                else f"taken from {config_source.name}"
                if head_from is not None
                else "merged like the other tensors"
            ),
            head_tensors=head_tensors,
            mismatched_tensors=mismatched,
            align=align,
        )

        # ------------------------------------------------------------------ alignment (perms per model)
        spec = None
        perms: list[dict[int, Tensor] | None] = [None] * len(sources)
        if align:
            from safetensors.torch import load_file

            from hfnet.hub import load_classifier
            from hfnet.merging.align import classifier_permutation_spec, weight_matching

            spec = classifier_permutation_spec(load_classifier(sources[0].folder))
            state_a = load_file(str(sources[0].weights))
            for i, s in enumerate(sources[1:], start=1):
                state_b = load_file(str(s.weights))
                result = weight_matching(spec, state_a, state_b, seed=seed)
                perms[i] = result.perms
                report.alignment.append(
                    {
                        "model": s.name,
                        "iterations": result.iterations,
                        "similarity_before": result.similarity_before,
                        "similarity_after": result.similarity_after,
                    }
                )
                del state_b
            del state_a

        def read(i: int, key: str) -> Tensor:
            t = handles[i].get_tensor(key)
            if perms[i] is not None:
                from hfnet.merging.align import permute_tensor

                t = permute_tensor(key, t, spec, perms[i])
            return t

        # ------------------------------------------------------------------ TIES whole-model trim thresholds
        method_options = dict(options)
        if method == "ties" and options.get("trim") == "model":
            method_options["thresholds"] = _ties_model_thresholds(
                read, base_handle, ref_names, len(sources), options.get("density", 0.2), head_tensors, take_head
            )
            report.options = {**options, "trim_thresholds": list(method_options["thresholds"])}

        # ------------------------------------------------------------------ stream
        merged: dict[str, Tensor] = {}
        generator = torch.Generator().manual_seed(seed)
        for key in tqdm(ref_names, desc=f"merge ({method})", disable=len(ref_names) < 50):
            if key in head_tensors and take_head:
                t = read(head_index, key)
                if reinit_head:
                    t = (
                        torch.randn(t.shape, generator=generator, dtype=torch.float32).mul_(0.01).to(t.dtype)
                        if t.dim() > 1
                        else torch.zeros_like(t)
                    )
                merged[key] = t.contiguous()
                continue
            first = read(head_index, key)
            if not first.is_floating_point():
                merged[key] = first.contiguous()
                report.copied_integer_tensors.append(key)
                continue
            tensors = [first if i == head_index else read(i, key) for i in range(len(sources))]
            base_tensor = base_handle.get_tensor(key) if base_handle is not None else None
            merged[key] = _call(merge_method, tensors, weights, base_tensor, method_options).contiguous()
            del tensors, base_tensor
        report.num_tensors = len(merged)

    with atomic_dir(out_path, overwrite=overwrite) as tmp:
        for f in config_source.folder.iterdir():
            if f.is_file() and f.name not in _SKIP_FILES and not f.name.startswith("."):
                shutil.copyfile(f, tmp / f.name)  # not copy2: the new files follow the umask
        save_file(merged, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del merged
        if batchnorm_dataset is not None:
            from hfnet.hub import load_classifier
            from hfnet.merging.batchnorm import recompute_batchnorm

            clf = load_classifier(tmp)
            report.batchnorm_layers_recomputed = recompute_batchnorm(
                clf, batchnorm_dataset, max_samples=batchnorm_samples
            )
            state = {k: v.contiguous() for k, v in clf.model.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
            del clf, state
        if eval_dataset is not None:
            from hfnet.evaluation import evaluate_classifier
            from hfnet.hub import load_classifier

            report.metrics = evaluate_classifier(load_classifier(tmp), eval_dataset, progress=False)
        (tmp / "hfnet_merge.json").write_text(json.dumps(report.to_dict(), indent=2))
        _write_card(
            tmp,
            report,
            config_source.library,
            sources=sources,
            base_source=base_source,
            folder_name=out_path.name,
            dataset_name=dataset_name,
            command=command,
        )
    logger.info("merged %d models into %s", len(sources), out_path)
    from hfnet.hub import push_result

    push_result(out_path, push=push_to_hub, hub_model_id=hub_model_id, private=private)
    return report
