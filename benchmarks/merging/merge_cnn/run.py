"""Seed 000 at CPU scale: merge two CNNs trained on different datasets, with and without permutation alignment.

One architecture whose first conv has 3 -> 128 channels (a transformers ResNet: 7x7 embedder conv 3->128, two basic
stages of 64 and 128 channels, BatchNorm, residuals), inputs 28x28 grey images repeated to RGB:

- (a) trained on MNIST digits (seed 0), (b) on Fashion-MNIST (seed 1), and (b') on Fashion-MNIST with seed 0
  (the same seed as (a), for the "same seed vs different seed" filter matrices);
- (a) + (b) averaged naively and after weight matching (Git Re-Basin), head from (b), BatchNorm statistics
  recomputed on (b)'s training images, then fine-tuned on (b)'s task; (b) fine-tuned for the same steps is the control;
- (b) + (b') (same task, different seeds) merged naively and aligned: the classic alignment check;
- filter matrices (first conv, 384 single-channel 7x7 filters, cosine > 0.5, as is and best-match reordered) for
  (a)-(b), (a)-merge, (b)-merge, (a)-(b') same seed, against random weights.

    python benchmarks/merging/merge_cnn/run.py                      # 3 seeds, writes results.md / .json / PNGs here
    python benchmarks/merging/merge_cnn/run.py --samples_per_class 200 --epochs 1 --seeds 0 --output_dir /tmp/mq

Repetition ``s`` trains (a) and (b') with seed ``2s`` and (b) with seed ``2s + 1`` (repetition 0 is the original
single run) and fine-tunes with seed ``s``; the data are the same. Tables give mean ± std over the repetitions; the
filter PNGs come from the first one.

Single process: the training calls go through the HF Trainer, but the merges, evaluations and plots are not
guarded for multi-process launches.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from hfnet._plots import pyplot, save_figure
from hfnet._table import format_table
from hfnet.analysis.compare import compare_models
from hfnet.analysis.plots import plot_comparison, plot_summary
from hfnet.cards import ModelCardInfo
from hfnet.classifier import load_classifier
from hfnet.data import class_names, load_image_dataset
from hfnet.evaluation import evaluate_classifier
from hfnet.merging import merge_models
from hfnet.training import train_classifier
from hfnet.zoo import tiny_resnet


@dataclass
class ScriptArguments:
    output_dir: str = field(default="benchmarks/merging/merge_cnn", metadata={"help": "tables + PNGs go here"})
    work_dir: str = field(default="/tmp/hfnet-merge-cnn", metadata={"help": "model folders go here"})
    samples_per_class: int = field(default=500, metadata={"help": "training images per class (each dataset)"})
    test_samples_per_class: int = field(default=100, metadata={"help": "held-out test images per class"})
    epochs: float = field(default=3.0, metadata={"help": "epochs for (a), (b), (b')"})
    finetune_epochs: float = field(default=1.0, metadata={"help": "fine-tuning epochs on (b)'s task after merging"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    finetune_learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate for fine-tuning"})
    batch_size: int = field(default=64)
    bn_samples: int = field(default=1024, metadata={"help": "images for BatchNorm recomputation after merging"})
    threads: int = field(default=1, metadata={"help": "torch threads (the CPU is shared)"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "one repetition per seed"})


def build(names: list[str], seed: int):
    return tiny_resnet(names, image_size=28, embedding_size=128, hidden_sizes=(64, 128), depths=(1, 1), seed=seed)


def run_seed(args: ScriptArguments, rep: int, data: dict, out: Path, plots: bool) -> tuple[list[dict], list[dict]]:
    """One repetition: train (a), (b), (b'), merge, recompute BatchNorm, fine-tune, compare filters."""
    work = Path(args.work_dir) / f"seed{rep}"
    mnist, fashion = data["mnist"], data["fashion_mnist"]

    # Train (a), (b), (b')
    def train(name: str, dataset, seed: int) -> Path:
        clf = build(class_names(dataset), seed)
        train_classifier(
            clf, dataset["train"], output_dir=str(work / "runs" / name), epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed, logging_steps=100,
        )  # fmt: skip
        card = ModelCardInfo(title=name, summary=f"merge_cnn benchmark parent {name}")
        return clf.save_pretrained(work / name, card=card)

    a = train("a_mnist", mnist, 2 * rep)
    b = train("b_fashion", fashion, 2 * rep + 1)
    b0 = train("bp_fashion_seed_of_a", fashion, 2 * rep)
    rows: list[dict] = []

    def dataset_name(dataset) -> str:
        return "MNIST" if dataset is mnist else "Fashion-MNIST"

    def evaluate(label: str, folder: Path, dataset, stage: str) -> float:
        acc = evaluate_classifier(load_classifier(folder), dataset["test"], progress=False)["accuracy"]
        rows.append({"model": label, "stage": stage, "eval data": dataset_name(dataset), "test accuracy": acc})
        return acc

    evaluate("(a) MNIST", a, mnist, "trained")
    evaluate("(b) Fashion", b, fashion, "trained")
    evaluate("(b') Fashion, seed of (a)", b0, fashion, "trained")

    # Merge
    bn_data = fashion["train"].shuffle(seed=rep)
    merged = {}
    for label, parents, align in (
        ("merge (a)+(b) naive", [b, a], False),
        ("merge (a)+(b) aligned", [b, a], True),
        ("merge (b)+(b') naive", [b, b0], False),
        ("merge (b)+(b') aligned", [b, b0], True),
    ):
        folder = work / label.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "_").replace("'", "p")
        report = merge_models(
            parents, folder, head_from=0, align=align, batchnorm_dataset=bn_data, batchnorm_samples=args.bn_samples,
            seed=rep,
        )  # fmt: skip
        merged[label] = folder
        # without BN recomputation too, to show what recomputing buys
        raw = merge_models(parents, folder.with_name(folder.name + "_nobn"), head_from=0, align=align, seed=rep)
        evaluate(label + " (BN stats averaged)", Path(raw.output), fashion, "merged")
        evaluate(label, folder, fashion, "merged, BN recomputed")
        if align:
            rows[-1]["similarity_before"] = report.alignment[0]["similarity_before"]
            rows[-1]["similarity_after"] = report.alignment[0]["similarity_after"]

    # Train: fine-tune on (b)'s task
    def finetune(folder: Path) -> Path:
        clf = load_classifier(folder)
        train_classifier(
            clf, fashion["train"], output_dir=str(work / "runs" / ("ft_" + folder.name)), epochs=args.finetune_epochs,
            batch_size=args.batch_size, learning_rate=args.finetune_learning_rate, seed=rep, logging_steps=100,
        )  # fmt: skip
        return clf.save_pretrained(work / ("ft_" + folder.name))

    for label, folder in (
        ("(b) Fashion (control: same fine-tuning)", b),
        ("merge (a)+(b) naive", merged["merge (a)+(b) naive"]),
        ("merge (a)+(b) aligned", merged["merge (a)+(b) aligned"]),
    ):
        evaluate(label, finetune(folder), fashion, f"+{args.finetune_epochs:g} epoch fine-tuning")

    # Filters
    pairs = {
        "(a)-(b)": (a, b),
        "(a)-merge naive": (a, merged["merge (a)+(b) naive"]),
        "(b)-merge naive": (b, merged["merge (a)+(b) naive"]),
        "(a)-merge aligned": (a, merged["merge (a)+(b) aligned"]),
        "(b)-merge aligned": (b, merged["merge (a)+(b) aligned"]),
        "(a)-(b') same seed": (a, b0),
        "(b)-(b') same data": (b, b0),
    }
    filter_rows = []
    for pair, (x, y) in pairs.items():
        layer, cmp = compare_models(x, y, metric="cosine", threshold=0.5, random_seed=0)
        if plots:
            slug = pair.replace(" ", "_").replace("(", "").replace(")", "").replace("'", "p")
            plot_comparison(
                cmp, out / f"filters_{slug}.png", title=f"{pair}: {layer}", labels=tuple(pair.split(" ")[0].split("-"))
            )
        s = cmp.summary
        filter_rows.append(
            {
                "pair": pair,
                "match_fraction": s["match_fraction"],
                "match_fraction_random": s["match_fraction_random"],
                "diagonal_raw": s["diagonal_fraction_raw"],
                "diagonal_reordered": s["diagonal_fraction_reordered"],
                "diagonal_reordered_random": s["diagonal_fraction_reordered_random"],
                "mean_best_cos": s["mean_best"],
            }
        )
    if plots:
        plot_summary(filter_rows, out / "filters_summary.png", key="match_fraction",
                     title="first conv: fraction of (a)'s 384 filters with a cos > 0.5 match")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)  # the script's own scratch folder: model checkpoints are not kept
    return rows, filter_rows


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def _plot(runs: list[list[dict]], path: Path) -> None:
    plt = pyplot()

    def acc(model: str, stage: str) -> list[float]:
        return [next(r["test accuracy"] for r in rows if r["model"] == model and r["stage"] == stage) for rows in runs]

    ft = f"+{runs[0][-1]['stage'].split()[0][1:]} epoch fine-tuning"
    bars = [
        ("(b) trained", acc("(b) Fashion", "trained")),
        ("(b) + fine-tuning\n(control)", acc("(b) Fashion (control: same fine-tuning)", ft)),
        ("(a)+(b) naive\nBN recomputed", acc("merge (a)+(b) naive", "merged, BN recomputed")),
        ("(a)+(b) aligned\nBN recomputed", acc("merge (a)+(b) aligned", "merged, BN recomputed")),
        ("(a)+(b) naive\n+ fine-tuning", acc("merge (a)+(b) naive", ft)),
        ("(a)+(b) aligned\n+ fine-tuning", acc("merge (a)+(b) aligned", ft)),
    ]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    means = [statistics.mean(v) for _, v in bars]
    stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for _, v in bars]
    ax.bar([n for n, _ in bars], means, yerr=stds, capsize=4, color=["#555555", "#aaaaaa"] + ["#4c72b0"] * 4)
    for i, (_, v) in enumerate(bars):
        ax.scatter([i] * len(v), v, color="k", s=8, zorder=3)
        ax.text(i + 0.1, means[i] + 0.01, f"{means[i]:.3f}", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"Fashion-MNIST test accuracy ({len(runs)} seeds)")
    ax.set_title("seed 000: merging a MNIST CNN into a Fashion-MNIST CNN")
    plt.setp(ax.get_xticklabels(), fontsize=8)
    save_figure(fig, path, dpi=120)


def main() -> None:
    (args,) = HfArgumentParser(ScriptArguments).parse_args_into_dataclasses()
    torch.set_num_threads(args.threads)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # Dataset (the same images for every repetition)
    data = {
        name: load_image_dataset(
            name, samples_per_class=args.samples_per_class, test_samples_per_class=args.test_samples_per_class
        )
        for name in ("mnist", "fashion_mnist")
    }
    runs, filter_runs = [], []
    for i, rep in enumerate(args.seeds):
        t_rep = time.perf_counter()
        rows, filter_rows = run_seed(args, rep, data, out, plots=i == 0)
        runs.append(rows)
        filter_runs.append(filter_rows)
        print(f"repetition {rep}: {time.perf_counter() - t_rep:.0f} s", flush=True)

    table = []
    for j, row in enumerate(runs[0]):
        values = [rows[j]["test accuracy"] for rows in runs]
        entry = {k: row[k] for k in ("model", "stage", "eval data")}
        entry["test accuracy"] = _mean_std(values)
        entry["runs"] = ", ".join(f"{v:.3f}" for v in values)
        if "similarity_before" in row:
            before = statistics.mean(rows[j]["similarity_before"] for rows in runs)
            after = statistics.mean(rows[j]["similarity_after"] for rows in runs)
            entry["alignment (mean)"] = f"{before:.1f} -> {after:.1f}"
        table.append(entry)
    filter_table = []
    for j, row in enumerate(filter_runs[0]):
        entry = {"pair": row["pair"]}
        for k in row:
            if k != "pair":
                entry[k] = _mean_std([rows[j][k] for rows in filter_runs])
        filter_table.append(entry)
    _plot(runs, out / "accuracy.png")

    # Save / push: tables
    seconds = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k not in ("output_dir", "work_dir")}
    (out / "results.json").write_text(
        json.dumps(
            {
                "settings": settings,
                "accuracy": table,
                "filters": filter_table,
                "runs": runs,
                "filter_runs": filter_runs,
                "seconds": seconds,
            },
            indent=2,
        )  # fmt: skip
    )
    text = (
        f"# merge_cnn results (seed 000)\n\n`python benchmarks/merging/merge_cnn/run.py` settings: {settings}; "
        f"{seconds:.0f} s for {len(runs)} repetitions on the shared 2-core CPU (1 torch thread).\n\n"
        f"## Accuracy on held-out test images (mean ± std over repetitions)\n\n```\n{format_table(table)}\n```\n\n"
        f"## First-conv filter similarity (cos > 0.5, mean ± std)\n\n```\n{format_table(filter_table)}\n```\n\n"
        "![accuracy](accuracy.png) ![filters](filters_summary.png)\n"
    )
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
