"""CPU-scale version of the seed-002 table: a small ViT pretrained on Fashion-MNIST, pruned for MNIST.

    python benchmarks/pruning/run.py            # full run (<= 15 min on 2 shared CPU cores), writes results.*
    python benchmarks/pruning/run.py --quick    # smoke test (1 seed, 1 sparsity, a few steps; writes nothing)

Protocol: a transformers ViT (28 px, patch 7, hidden 96, 4 blocks) is trained from scratch on 6000 Fashion-MNIST
images, then for every seed, sparsity (90/95/98 % of the prunable weights, one global threshold) and method
(random, magnitude, SNIP, ReFer, AFR) it gets a new 10-digit head, is scored on 256 MNIST training images, pruned,
fine-tuned with the mask fixed for the same budget (HF Trainer + MaskCallback) and evaluated on 1000 MNIST test
images. A dense fine-tune (no pruning) gives the ceiling. Cost: scoring time of SNIP, ReFer and AFR on the same
batches, for this model and for ViT-B/16 at 224 px (random weights, one batch of 32).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hfnet._plots import pyplot, save_figure
from hfnet.classifier import load_classifier
from hfnet.data import class_names, load_image_dataset
from hfnet.evaluation import evaluate_classifier
from hfnet.pruning import compute_scores
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.pipeline import calibration_batches, fit_head, run_pruning
from hfnet.training import default_training_arguments, train_classifier
from hfnet.zoo import tiny_vit

HERE = Path(__file__).resolve().parent
METHODS = ("random", "magnitude", "snip", "refer", "afr")
SPARSITIES = (0.9, 0.95, 0.98)
SEEDS = (0, 1, 2)


def pretrain(work: Path, steps: int, seed: int = 0) -> tuple[Path, dict]:
    """Fashion-MNIST pretraining of the small ViT (the 'pretrained model' of this benchmark)."""
    data = load_image_dataset("fashion_mnist", samples_per_class=600, test_samples_per_class=100, seed=seed)
    clf = tiny_vit(
        class_names(data), image_size=28, patch_size=7, hidden_size=96, num_layers=4, num_heads=4, seed=seed
    )
    t0 = time.perf_counter()
    train_classifier(
        clf,
        data["train"],
        output_dir=str(work / "pretrain"),
        max_steps=steps,
        batch_size=64,
        learning_rate=2e-3,
        seed=seed,
        weight_decay=0.05,
        disable_tqdm=True,
        logging_steps=10_000,
    )
    metrics = evaluate_classifier(clf, data["test"], progress=False)
    metrics["seconds"] = time.perf_counter() - t0
    return clf.save_pretrained(work / "fashion_vit"), metrics


def prune_run(model_dir: Path, data, work: Path, method: str, sparsity: float, seed: int, steps: int) -> dict:
    clf = load_classifier(model_dir)
    config = PruningConfig(method=method, sparsity=sparsity, calibration_samples=256, pruning_seed=seed)
    args = default_training_arguments(
        str(work / "ft"),
        max_steps=steps,
        batch_size=64,
        learning_rate=2e-3,
        seed=seed,
        disable_tqdm=True,
        logging_steps=10_000,
    )
    t0 = time.perf_counter()
    summary = run_pruning(clf, data, config, args, save_dir=None, dataset_name="mnist", progress=False)
    return {
        "method": method,
        "sparsity": sparsity,
        "seed": seed,
        "accuracy": summary["accuracy"],
        "sparsity_prunable": summary["sparsity_prunable"],
        "sparsity_all_weights": summary["sparsity_all_weights"],
        "scoring_seconds": summary["scoring_seconds"],
        "seconds": time.perf_counter() - t0,
    }


def dense_run(model_dir: Path, data, work: Path, seed: int, steps: int) -> dict:
    clf = load_classifier(model_dir)
    torch.manual_seed(seed)
    fit_head(clf, class_names(data))
    train_classifier(
        clf,
        data["train"],
        output_dir=str(work / "dense"),
        max_steps=steps,
        batch_size=64,
        learning_rate=2e-3,
        seed=seed,
        disable_tqdm=True,
        logging_steps=10_000,
    )
    return {"method": "dense", "sparsity": 0.0, "seed": seed, **evaluate_classifier(clf, data["test"], progress=False)}


def time_scores(clf, batches, methods, repeats: int) -> dict[str, float]:
    """Median wall time per call of each score on the same batches (afr_batch: per-batch ReFer statistics)."""
    out = {}
    for name in methods:
        method, stats = (name.split("_") + ["union"])[:2]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            compute_scores(method, clf, batches, refer_statistics=stats)
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def vit_b16_timing(batch_size: int = 32) -> dict[str, float]:
    """Scoring time for one batch of 32 at 224 px through ViT-B/16 (random weights, 1000 -> 10 classes)."""
    from transformers import ViTConfig, ViTForImageClassification

    from hfnet.classifier import HubClassifier

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(num_labels=10))  # the ViT-B/16 224 px architecture
    clf = HubClassifier.from_model(model)
    batches = [{"pixel_values": torch.randn(batch_size, 3, 224, 224), "labels": torch.arange(batch_size) % 10}]
    return time_scores(clf, batches, ("snip", "afr", "afr_batch"), repeats=1)


def summarise(rows: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for method in ("dense", *METHODS):
        for sparsity in (0.0, *SPARSITIES):
            accs = [r["accuracy"] for r in rows if r["method"] == method and r["sparsity"] == sparsity]
            if accs:
                std = statistics.stdev(accs) if len(accs) > 1 else 0.0
                table.setdefault(method, {})[f"{sparsity:g}"] = (statistics.mean(accs), std)
    return table


def _cell(value: float | None) -> str:
    return "not timed" if value is None else f"{value:.3f}"


def write_results(result: dict) -> None:
    table = result["table"]
    lines = [
        "# Pruning benchmark: Fashion-MNIST ViT pruned for MNIST (seed 002, CPU scale)",
        "",
        f"Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min on {result['machine']}).",
        "",
        f"Pretrained model: transformers ViT, 28 px, patch 7, hidden 96, 4 blocks, {result['prunable_weights']} "
        f"prunable weights (Linear layers of the blocks) of {result['all_weights']}; trained from scratch on 6000 "
        f"Fashion-MNIST images ({result['pretrain']['accuracy']:.3f} test accuracy on 1000). Downstream: MNIST, "
        f"2000 training images (200 per class), 1000 test images; 256 calibration images; fine-tuning budget "
        f"{result['finetune_steps']} AdamW steps of 64 (lr 2e-3) with the mask fixed; seeds {list(SEEDS)} "
        "(head init, calibration subset, data order). MNIST test accuracy, mean +/- std over seeds:",
        "",
        "| method | " + " | ".join(f"{s:.0%}" for s in SPARSITIES) + " |",
        "|---|" + "---|" * len(SPARSITIES),
    ]
    dense = table["dense"]["0"]
    lines.append(f"| dense (0 %) | {dense[0]:.4f} +/- {dense[1]:.4f} |" + " |" * (len(SPARSITIES) - 1))
    for method in METHODS:
        cells = [f"{table[method][f'{s:g}'][0]:.4f} +/- {table[method][f'{s:g}'][1]:.4f}" for s in SPARSITIES]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    t = result["timing"]
    lines += [
        "",
        "## Scoring cost",
        "",
        "| model | SNIP s | ReFer s | AFR s | AFR / SNIP | AFR (per-batch statistics) s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, key in (("benchmark ViT, 8 batches of 32", "small_vit"), ("ViT-B/16 224 px, 1 batch of 32", "vit_b16")):
        if key in t:
            x = t[key]
            lines.append(
                f"| {name} | {x['snip']:.3f} | {_cell(x.get('refer'))} | {x['afr']:.3f} | {x['afr'] / x['snip']:.2f}x "
                f"| {x['afr_batch']:.3f} | {x['afr_batch'] / x['snip']:.2f}x |"
            )
    lines += [
        "",
        "AFR needs one forward pass without gradients (the Gram matrices of the block features over all calibration "
        "images) plus one forward and two backward passes; the per-batch variant skips the first pass.",
        "",
        result["verdict"],
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines))
    (HERE / "results.json").write_text(json.dumps(result, indent=2))
    plot(table, HERE / "accuracy.png")


def plot(table: dict, path: Path) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    xs = [100 * s for s in SPARSITIES]
    for method in METHODS:
        mean = [table[method][f"{s:g}"][0] for s in SPARSITIES]
        std = [table[method][f"{s:g}"][1] for s in SPARSITIES]
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=method)
    ax.axhline(table["dense"]["0"][0], color="grey", ls="--", label="dense")
    ax.set_xlabel("sparsity of prunable weights [%]")
    ax.set_ylabel("MNIST test accuracy")
    ax.set_xticks(xs)
    ax.set_title("Fashion-MNIST ViT pruned for MNIST (mean +/- std, 3 seeds)")
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=120)


def verdict(table: dict) -> str:
    parts = []
    for s in SPARSITIES:
        afr, snip, refer = (table[m][f"{s:g}"] for m in ("afr", "snip", "refer"))
        best = max(METHODS, key=lambda m: table[m][f"{s:g}"][0])
        parts.append(
            f"at {s:.0%} AFR - SNIP = {afr[0] - snip[0]:+.4f}, AFR - ReFer = {afr[0] - refer[0]:+.4f} (best: {best})"
        )
    return "Measured: " + "; ".join(parts) + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test; writes nothing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--skip-vit-b16", action="store_true", help="skip the ViT-B/16 timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    t_start = time.perf_counter()
    seeds, sparsities = (SEEDS[:1], SPARSITIES[:1]) if args.quick else (SEEDS, SPARSITIES)
    pre_steps, ft_steps = (20, 5) if args.quick else (args.pretrain_steps, args.finetune_steps)
    with tempfile.TemporaryDirectory(prefix="hfnet-prune-bench-") as tmp:
        work = Path(tmp)
        model_dir, pre = pretrain(work, pre_steps)
        print(f"pretrained on Fashion-MNIST: accuracy {pre['accuracy']:.4f} in {pre['seconds']:.0f} s", flush=True)
        mnist = load_image_dataset("mnist", samples_per_class=200, test_samples_per_class=100, seed=0)
        rows = []
        for seed in seeds:
            rows.append(dense_run(model_dir, mnist, work, seed, ft_steps))
            print(f"dense seed {seed}: {rows[-1]['accuracy']:.4f}", flush=True)
            for sparsity in sparsities:
                for method in METHODS:
                    rows.append(prune_run(model_dir, mnist, work, method, sparsity, seed, ft_steps))
                    r = rows[-1]
                    print(
                        f"{method:9s} {sparsity:.2f} seed {seed}: {r['accuracy']:.4f} ({r['seconds']:.1f} s)",
                        flush=True,
                    )
        clf = load_classifier(model_dir)
        torch.manual_seed(0)
        fit_head(clf, class_names(mnist))
        batches = calibration_batches(clf, mnist["train"], num_samples=256, batch_size=32)
        clf_prunable = sum(p.numel() for p in __import__("hfnet").pruning.prunable_parameters(clf).values())
        all_weights = sum(p.numel() for p in clf.model.parameters())
        timing = {"small_vit": time_scores(clf, batches, ("snip", "refer", "afr", "afr_batch"), repeats=3)}
    print("scoring time (small ViT):", timing["small_vit"], flush=True)
    if not args.skip_vit_b16 and not args.quick:
        timing["vit_b16"] = vit_b16_timing()
        print("scoring time (ViT-B/16, batch 32):", timing["vit_b16"], flush=True)
    if args.quick:
        print(rows)
        return
    table = summarise(rows)
    result = {
        "command": "python benchmarks/pruning/run.py",
        "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s), shared",
        "pretrain": pre,
        "finetune_steps": ft_steps,
        "prunable_weights": clf_prunable,
        "all_weights": all_weights,
        "rows": rows,
        "table": {m: {s: list(v) for s, v in d.items()} for m, d in table.items()},
        "timing": timing,
        "verdict": verdict(table),
        "total_seconds": time.perf_counter() - t_start,
    }
    write_results(result)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
