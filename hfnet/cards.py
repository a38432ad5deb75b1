"""Model cards the Hub can read, built with ``huggingface_hub`` (``ModelCardData`` + ``EvalResult``).

What a card says, and the rules it follows:

- ``model-index``: every measured metric with a real metric id (top-1 / top-5 accuracy) on its dataset and split;
  the ``metrics:`` list holds only metric ids (``accuracy``). Loss, sparsity and parameter counts stay in the body.
- ``base_model`` only for real Hub ids (what :func:`hfnet.hub.resolve_model` resolved on the Hub; a local folder is
  never one, even when its path looks like ``org/name``), with ``base_model_relation`` (``merge``, ``finetune``).
- Parents, teacher and assistants are named in the body: Hub ids as links, local ones by folder name, never an
  absolute path.
- ``datasets:`` only Hub dataset ids (the built-in Fashion-MNIST / MNIST map to theirs; scikit-learn digits and
  local image folders have none).
- The license is carried from the parent's card where it has one; the body lists the hfnet / transformers / timm /
  torch versions and the command or config that reproduces the result; plots the job made are embedded.
- The usage snippet names the folder (``./NAME``); :func:`hfnet.hub.push_to_hub` puts the repo id in at push time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData, hf_hub_download, metadata_load

from hfnet import __version__

logger = logging.getLogger(__name__)

__all__ = [
    "CARD_FILE",
    "ModelCardInfo",
    "dataset_hub_id",
    "display_name",
    "format_value",
    "framework_versions",
    "is_hub_id",
    "render_model_card",
    "set_card_repo_id",
    "source_license",
    "template_dir",
]

CARD_FILE = "README.md"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?")
# built-in hfnet dataset names -> their Hub dataset ids (None: not on the Hub)
_BUILTIN_DATASETS: dict[str, str | None] = {
    "digits": None,
    "fashion_mnist": "zalando-datasets/fashion_mnist",
    "mnist": "ylecun/mnist",
    "imagenet-1k": "ILSVRC/imagenet-1k",
    "imagenet_1k": "ILSVRC/imagenet-1k",
}
_DATASET_NAMES = {
    "digits": "scikit-learn digits",
    "fashion_mnist": "Fashion-MNIST",
    "mnist": "MNIST",
    "imagenet-1k": "ImageNet-1k",
    "imagenet_1k": "ImageNet-1k",
}
# hfnet metric keys that are real metric ids, with the model-index name and config
_METRICS = {"accuracy": ("accuracy", "Top-1 accuracy", None), "top5_accuracy": ("accuracy", "Top-5 accuracy", "top-5")}


@dataclass
class ModelCardInfo:
    """What a model card says: rendered into README.md by :meth:`HubClassifier.save_pretrained`.

    Args:
        title: the card's heading.
        summary: markdown, what was done to produce this checkpoint.
        base_model: Hub id(s) this checkpoint derives from. Only real Hub ids belong here (a local folder never);
            entries that are existing local paths are dropped when the card is rendered.
        base_model_relation: ``merge``, ``finetune``, ``adapter`` or ``quantized`` (how it derives from the base).
        datasets: datasets used (hfnet names or Hub ids); only Hub dataset ids reach the metadata.
        metrics: measured results, name -> value. Real metric ids (``accuracy``, ``top5_accuracy``) go to the
            model-index; everything else (loss, sparsity, parameters) to the body's table only.
        eval_dataset / eval_split: where ``metrics`` were measured.
        parents: ``(role, name or path)`` of every model this one came from (parent, base, teacher, assistant),
            named in the body (Hub ids linked, local folders by name).
        license: the SPDX-style id carried from the parent (see :func:`source_license`).
        command: the exact command line that reproduces this result.
        config: the settings that reproduce it (rendered as JSON).
        plots: image files inside the saved folder to embed.
        tags: extra Hub tags (``hfnet`` and the library are always added).
        settings: the job's settings, label -> value, rendered as a table under ``settings_title`` (jobs fill it
            from their config dataclass, so the card cannot drift from what ran).
        settings_title: the heading of that table (``Pruning``, ``Compression``, ...).
        details: further markdown (prose about the method).
    """

    title: str
    summary: str
    base_model: str | list[str] | None = None
    datasets: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    details: str = ""
    base_model_relation: str | None = None
    eval_dataset: str | None = None
    eval_split: str | None = "test"
    parents: list[tuple[str, str]] = field(default_factory=list)
    license: str | None = None
    command: str | None = None
    config: dict[str, Any] | None = None
    plots: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    settings_title: str = "Settings"


def template_dir() -> Path:
    """The folder of hfnet's Jinja card templates (``model_cards/``)."""
    return Path(str(resources.files("hfnet") / "model_cards"))


def is_hub_id(name: str | None) -> bool:
    """Whether ``name`` can be a Hub id *and* is not a local path (callers should prefer resolve's answer)."""
    if not name:
        return False
    name = str(name)
    if name.startswith(("hf-hub:",)):
        name = name[len("hf-hub:") :]
    if name.startswith((".", "/", "~", "local-dir:")) or Path(name).expanduser().exists():
        return False
    return bool(_HUB_ID.fullmatch(name))


# the TrainingArguments fields a card lists under "reproduce" (jobs add their own settings in front)
TRAINING_CARD_KEYS = (
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "per_device_train_batch_size",
    "weight_decay",
    "seed",
)


def display_name(name: str | os.PathLike | None) -> str:
    """How a model is named in a card: a Hub id as a link, a local folder by its name (never an absolute path)."""
    if name is None:
        return "(unnamed)"
    text = str(name)
    for prefix in ("hf-hub:", "local-dir:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if "/" in text and is_hub_id(text):  # only OWNER/NAME is linked: a bare name is a local stage or folder
        return f"[{text}](https://huggingface.co/{text})"
    path = Path(text).expanduser()
    if "/" not in text and not path.exists():
        return f"`{text}`"  # an in-memory stage (assistant_1, student): no folder, no Hub repo
    return f"`{path.name or text}` (local folder)"


def format_value(value: Any) -> str:
    """A number as a card shows it: integers (and integral counts) as integers, other floats with 4 decimals
    (4 significant digits when smaller than 0.001); anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) >= 10:
        return str(int(value))
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.4g}"
    return f"{value:.4f}"


def dataset_hub_id(name: str | None) -> str | None:
    """The Hub dataset id of an hfnet dataset name, or None (digits, local folders, bare unknown names).

    Built-in names map to their Hub ids; otherwise only an ``owner/name`` that is not a local path counts.
    """
    if not name:
        return None
    key = str(name).replace("-", "_").lower() if str(name).lower() != "imagenet-1k" else "imagenet-1k"
    if key in _BUILTIN_DATASETS:
        return _BUILTIN_DATASETS[key]
    return str(name) if "/" in str(name) and is_hub_id(str(name)) else None


def _dataset_display(name: str) -> str:
    key = str(name).replace("-", "_").lower() if str(name).lower() != "imagenet-1k" else "imagenet-1k"
    if key in _DATASET_NAMES:
        return _DATASET_NAMES[key]
    return Path(str(name)).name if not is_hub_id(str(name)) else str(name)


def framework_versions() -> dict[str, str]:
    """Versions of the libraries that made the checkpoint (those installed)."""

    out = {}
    for dist in ("hfnet", "torch", "transformers", "timm", "huggingface_hub", "datasets"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    if "hfnet" not in out:
        out["hfnet"] = __version__
    return out


def source_license(folder: str | os.PathLike | None = None, repo_id: str | None = None) -> str | None:
    """The ``license`` in the card of a model folder or Hub repo (cached / reachable), else None."""
    path: Path | None = None
    if folder is not None and (Path(folder) / CARD_FILE).is_file():
        path = Path(folder) / CARD_FILE
    elif repo_id:
        try:
            path = Path(hf_hub_download(repo_id, CARD_FILE))
        except Exception:  # noqa: BLE001 - a repo without a card simply has no license to carry
            return None
    if path is None:
        return None
    try:
        meta = metadata_load(path) or {}
    except Exception:  # noqa: BLE001 - an unreadable card has no license we can trust
        return None
    value = meta.get("license")
    return str(value) if value else None


def _eval_results(info: ModelCardInfo, model_name: str) -> list:

    if not info.eval_dataset:
        return []
    dataset_type = dataset_hub_id(info.eval_dataset) or _dataset_display(info.eval_dataset)
    out = []
    for key, value in info.metrics.items():
        if key not in _METRICS or not isinstance(value, int | float):
            continue
        metric_type, metric_name, metric_config = _METRICS[key]
        out.append(
            EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=dataset_type,
                dataset_name=_dataset_display(info.eval_dataset),
                dataset_split=info.eval_split,
                metric_type=metric_type,
                metric_name=metric_name,
                metric_config=metric_config,
                metric_value=round(float(value), 6),
            )
        )
    return out


def _scrub(value: Any) -> Any:
    """Settings / command words with absolute paths reduced to the folder or file name (cards name no local paths)."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isabs(os.path.expanduser(value))):
        return f"./{Path(value).name}" if Path(value).name else str(value)
    return value


def _scrub_command(command: str) -> str:

    try:
        words = shlex.split(command)
    except ValueError:
        return command
    out = []
    for w in words:
        key, eq, val = w.partition("=")
        if eq and val and os.path.isabs(val):
            out.append(f"{key}={_scrub(val)}")
        else:
            out.append(str(_scrub(w)))
    return shlex.join(out)


_ABS_PATH = re.compile(r"(?<=[\s`'\"(=:])(/[\w.\-~+@%/]+)")


def _scrub_text(text: str) -> str:
    """Safety net: an absolute local path left in free text (a caller's summary) becomes its last component."""

    def repl(m: re.Match) -> str:
        path = Path(m.group(1))
        if len(path.parts) > 2 and (path.exists() or path.parent.exists()):
            return path.name
        return m.group(1)

    return _ABS_PATH.sub(repl, text)


def _base_models(base: str | list[str] | None) -> list[str]:
    items = [base] if isinstance(base, str) else list(base or [])
    out = []
    for b in items:
        b = str(b).removeprefix("hf-hub:")
        if is_hub_id(b) and b not in out:
            out.append(b)
        elif b:
            logger.debug("not a Hub id, left out of base_model: %s", b)
    return out


def _card_data(info: ModelCardInfo, library: str, model_name: str) -> ModelCardData:
    """The card's YAML metadata: library, tags, Hub-only base models and datasets, license, model-index."""
    results = _eval_results(info, model_name)
    bases = _base_models(info.base_model)
    datasets = []
    for d in [*info.datasets, *([info.eval_dataset] if info.eval_dataset else [])]:
        hub = dataset_hub_id(d)
        if hub and hub not in datasets:
            datasets.append(hub)
    kwargs: dict[str, Any] = {}
    if bases and info.base_model_relation:
        kwargs["base_model_relation"] = info.base_model_relation
    return ModelCardData(
        library_name=library,
        base_model=(bases[0] if len(bases) == 1 else bases) or None,
        license=info.license,
        tags=sorted({"hfnet", "image-classification", library, *info.tags}),
        datasets=datasets or None,
        metrics=sorted({_METRICS[k][0] for k in info.metrics if k in _METRICS}) or None,
        pipeline_tag="image-classification",
        model_name=model_name if results else None,
        eval_results=results or None,
        **kwargs,
    )


def _eval_where(info: ModelCardInfo) -> str | None:
    if not info.eval_dataset:
        return None
    hub = dataset_hub_id(info.eval_dataset)
    return (
        _dataset_display(info.eval_dataset)
        + (f" (`{hub}`)" if hub else "")
        + (f", {info.eval_split} split" if info.eval_split else "")
    )


def render_model_card(
    info: ModelCardInfo,
    *,
    library: str = "transformers",
    template: str = "hfnet_model_card.md",
    folder_name: str | None = None,
) -> str:
    """Render a card (YAML metadata + body) from a template in ``model_cards/``.

    ``folder_name`` is the saved folder's name, used in the usage snippet until a push fills in the repo id.
    """
    model_name = folder_name or re.sub(r"[^\w.\-]+", "-", info.title).strip("-") or "model"
    card = ModelCard.from_template(
        _card_data(info, library, model_name),
        template_path=str(template_dir() / template),
        title=info.title,
        summary=info.summary,
        results={k: format_value(v) for k, v in info.metrics.items() if isinstance(v, int | float | str)},
        eval_where=_eval_where(info),
        parents=[(role, display_name(name)) for role, name in info.parents],
        details=info.details,
        settings={str(k): format_value(v) for k, v in info.settings.items()},
        settings_title=info.settings_title,
        library=library,
        model_ref=f"./{folder_name}" if folder_name else "./path-to-this-folder",
        command=_scrub_command(info.command) if info.command else None,
        config_json=json.dumps(_scrub(info.config), indent=2, default=str, sort_keys=True) if info.config else None,
        plots=list(info.plots),
        versions=framework_versions(),
    )
    return _scrub_text(str(card))


_LOCAL_REF = r"\./[^\"`\s]*"


def set_card_repo_id(card_text: str, folder_name: str, repo_id: str) -> str:
    """The card with the local folder reference of its usage snippet replaced by the Hub repo id.

    Any ``./NAME`` there is replaced, not only ``./folder_name``: a folder renamed or copied after saving still
    gets the pushed repo id.
    """
    text = re.sub(rf'"local-dir:{_LOCAL_REF}"', f'"hf-hub:{repo_id}"', card_text)
    text = re.sub(rf'(from_pretrained\(|model=)"{_LOCAL_REF}"', rf'\1"{repo_id}"', text)
    return text.replace(f"`./{folder_name}`", f"`{repo_id}`")
