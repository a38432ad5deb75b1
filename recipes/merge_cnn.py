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

    python recipes/merge_cnn.py --output_dir benchmarks/merging/merge_cnn
    python recipes/merge_cnn.py --samples_per_class 200 --epochs 1 --output_dir /tmp/merge_cnn_quick

Single process: the training calls go through the HF Trainer, but the merges, evaluations and plots are not
guarded for multi-process launches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import HfArgumentParser

from hfnet._table import format_table
from hfnet.analysis.compare import compare_models
from hfnet.analysis.plots import plot_comparison, plot_summary
from hfnet.data import class_names, load_image_dataset
from hfnet.evaluation import evaluate_classifier
from hfnet.hub import ModelCardInfo, load_classifier
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


def build(names: list[str], seed: int):
    return tiny_resnet(names, image_size=28, embedding_size=128, hidden_sizes=(64, 128), depths=(1, 1), seed=seed)


def main() -> None:
    (args,) = HfArgumentParser(ScriptArguments).parse_args_into_dataclasses()
    torch.set_num_threads(args.threads)
    out, work = Path(args.output_dir), Path(args.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # Dataset
    data = {
        name: load_image_dataset(
            name, samples_per_class=args.samples_per_class, test_samples_per_class=args.test_samples_per_class
        )
        for name in ("mnist", "fashion_mnist")
    }
    mnist, fashion = data["mnist"], data["fashion_mnist"]

    # Train (a), (b), (b')
    def train(name: str, dataset, seed: int) -> Path:
        clf = build(class_names(dataset), seed)
        train_classifier(
            clf, dataset["train"], output_dir=str(work / "runs" / name), epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed, logging_steps=100,
        )  # fmt: skip
        card = ModelCardInfo(title=name, summary=f"merge_cnn recipe parent {name}")
        return clf.save_pretrained(work / name, card=card)

    a = train("a_mnist_seed0", mnist, 0)
    b = train("b_fashion_seed1", fashion, 1)
    b0 = train("b_fashion_seed0", fashion, 0)
    rows: list[dict] = []

    def evaluate(label: str, folder: Path, dataset, stage: str) -> float:
        acc = evaluate_classifier(load_classifier(folder), dataset["test"], progress=False)["accuracy"]
        rows.append({"model": label, "stage": stage, "eval data": dataset_name(dataset), "test accuracy": acc})
        return acc

    def dataset_name(dataset) -> str:
        return "MNIST" if dataset is mnist else "Fashion-MNIST"

    evaluate("(a) MNIST", a, mnist, "trained")
    evaluate("(b) Fashion", b, fashion, "trained")
    evaluate("(b') Fashion, seed of (a)", b0, fashion, "trained")

    # Merge
    bn_data = fashion["train"].shuffle(seed=0)
    merged = {}
    for label, parents, align in (
        ("merge (a)+(b) naive", [b, a], False),
        ("merge (a)+(b) aligned", [b, a], True),
        ("merge (b)+(b') naive", [b, b0], False),
        ("merge (b)+(b') aligned", [b, b0], True),
    ):
        folder = work / label.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "_").replace("'", "p")
        report = merge_models(
            parents, folder, head_from=0, align=align, batchnorm_dataset=bn_data, batchnorm_samples=args.bn_samples
        )
        merged[label] = folder
        # without BN recomputation too, to show what recomputing buys
        raw = merge_models(parents, folder.with_name(folder.name + "_nobn"), head_from=0, align=align)
        evaluate(label + " (BN stats averaged)", Path(raw.output), fashion, "merged")
        evaluate(label, folder, fashion, "merged, BN recomputed")
        if align:
            rows[-1]["alignment"] = (
                f"{report.alignment[0]['similarity_before']:.1f} -> {report.alignment[0]['similarity_after']:.1f}"
            )

    # Train: fine-tune on (b)'s task
    def finetune(label: str, folder: Path) -> Path:
        clf = load_classifier(folder)
        train_classifier(
            clf, fashion["train"], output_dir=str(work / "runs" / ("ft_" + folder.name)), epochs=args.finetune_epochs,
            batch_size=args.batch_size, learning_rate=args.finetune_learning_rate, seed=0, logging_steps=100,
        )  # fmt: skip
        return clf.save_pretrained(work / ("ft_" + folder.name))

    for label, folder in (
        ("(b) Fashion (control: same fine-tuning)", b),
        ("merge (a)+(b) naive", merged["merge (a)+(b) naive"]),
        ("merge (a)+(b) aligned", merged["merge (a)+(b) aligned"]),
    ):
        evaluate(label, finetune(label, folder), fashion, f"+{args.finetune_epochs:g} epoch fine-tuning")

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
    plot_summary(filter_rows, out / "filters_summary.png", key="match_fraction",
                 title="first conv: fraction of (a)'s 384 filters with a cos > 0.5 match")  # fmt: skip

    # Save / push: tables
    seconds = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k not in ("output_dir", "work_dir")}
    (out / "results.json").write_text(
        json.dumps({"settings": settings, "accuracy": rows, "filters": filter_rows, "seconds": seconds}, indent=2)
    )
    text = (
        f"# merge_cnn results\n\n`python recipes/merge_cnn.py` settings: {settings}; {seconds:.0f} s on the shared "
        f"2-core CPU.\n\n## Accuracy on held-out test images\n\n```\n{format_table(rows)}\n```\n\n"
        f"## First-conv filter similarity (cos > 0.5)\n\n```\n{format_table(filter_rows, '{:.3f}')}\n```\n"
    )
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
