"""Seed 001 at CPU scale: the MNIST arithmetic-sequence task (predict 2b - a), model-1 vs model-2, and the
Euclidean filter comparison of their CNNs (16 first-conv filters, E_ij, S_i = min_j E_ij both directions).

model-1: CNN1 and CNN2 trained as digit classifiers on the first / second images, then an LSTM trained on their
predicted labels of the training images; model-2: the CNNs' 10-d outputs fed into the LSTM, trained end to end.

    python benchmarks/merging/sequence_cnn_lstm/run.py --epochs 20   # the seed's SGD lr 0.01, batch 128; 3 seeds
    python benchmarks/merging/sequence_cnn_lstm/run.py --epochs 100 --train_per_class 4200   # the seed's full budget
    python benchmarks/merging/sequence_cnn_lstm/run.py --epochs 1 --seeds 0 --output_dir /tmp/seq_quick   # smoke

Every repetition trains both models from its own seed (the images are the same; the mirrored pairing follows the
seed) and the tables give mean ± std over the seeds.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser

from hfnet._plots import pyplot, save_figure
from hfnet._table import format_table
from hfnet.analysis.arithmetic import (
    DigitCNN,
    EndToEnd,
    FitConfig,
    SequenceLSTM,
    arithmetic_pairs,
    fit,
    one_hot_sequence,
    predict,
)
from hfnet.analysis.filters import compare_filters, random_like
from hfnet.analysis.plots import plot_comparison
from hfnet.data import load_image_dataset


@dataclass
class ScriptArguments:
    output_dir: str = field(default="benchmarks/merging/sequence_cnn_lstm", metadata={"help": "tables + PNGs"})
    train_per_class: int = field(default=1000, metadata={"help": "MNIST training images per digit (seed: 42k total)"})
    test_per_class: int = field(default=200, metadata={"help": "MNIST test images per digit (seed: 10k total)"})
    epochs: int = field(default=20, metadata={"help": "epochs for every network (seed: 100)"})
    batch_size: int = field(default=128, metadata={"help": "seed: 128"})
    optimizer: str = field(default="sgd", metadata={"help": "sgd | adam (seed: plain SGD, lr 0.01)"})
    learning_rate: float = field(default=0.01, metadata={"help": "seed: 0.01"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "one repetition per seed"})
    threads: int = field(default=1, metadata={"help": "torch threads (the CPU is shared)"})


def to_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.stack([np.asarray(im.convert("L"), dtype=np.float32) / 255.0 for im in split["image"]])
    # a fixed shuffle so that mirrored pairs mix classes
    return torch.from_numpy(images)[:, None], torch.tensor(split["label"], dtype=torch.long)


def run_seed(args: ScriptArguments, seed: int, out: Path, plots: bool) -> dict:
    """One repetition: both models trained from ``seed``, their accuracies, filter statistics and loss curves."""
    # Dataset (the same images for every seed; the pairing shuffle follows the seed)
    mnist = load_image_dataset(
        "mnist", samples_per_class=args.train_per_class, test_samples_per_class=args.test_per_class, seed=0
    )
    train = arithmetic_pairs(*to_tensors(mnist["train"].shuffle(seed=seed)))
    test = arithmetic_pairs(*to_tensors(mnist["test"].shuffle(seed=seed)))
    x1, x2, a, b, y = train
    tx1, tx2, ta, tb, ty = test

    def cfg(s: int) -> FitConfig:
        return FitConfig(args.epochs, args.batch_size, args.learning_rate, args.optimizer, s)

    # Train model-1: two digit CNNs, then an LSTM on their predicted labels
    curves: dict[str, list[float]] = {}
    torch.manual_seed(seed)
    cnn1 = DigitCNN()
    torch.manual_seed(seed + 1)
    cnn2 = DigitCNN()
    curves["model-1 CNN1"] = fit(cnn1, (x1,), a, cfg(seed))
    curves["model-1 CNN2"] = fit(cnn2, (x2,), b, cfg(seed + 1))
    lstm = SequenceLSTM()
    curves["model-1 LSTM"] = fit(
        lstm, (one_hot_sequence(predict(cnn1, (x1,)), predict(cnn2, (x2,))),), y, cfg(seed + 2)
    )
    pa, pb = predict(cnn1, (tx1,)), predict(cnn2, (tx2,))
    m1_pred = predict(lstm, (one_hot_sequence(pa, pb),))

    # Train model-2: end to end
    torch.manual_seed(seed + 3)
    model2 = EndToEnd()
    curves["model-2 end to end"] = fit(model2, (x1, x2), y, cfg(seed + 3))
    m2_pred = predict(model2, (tx1, tx2))

    def acc(pred, ref) -> float:
        return float((pred == ref).float().mean())

    accuracy = {
        "model-1 | CNN1 (digit a)": acc(pa, ta),
        "model-1 | CNN2 (digit b)": acc(pb, tb),
        "model-1 | LSTM (2b - a)": acc(m1_pred, ty),
        "model-1 | LSTM on true labels (2b - a)": acc(predict(lstm, (one_hot_sequence(ta, tb),)), ty),
        "model-2 | end to end (2b - a)": acc(m2_pred, ty),
        "model-2 | CNN1 as digit classifier (argmax of its 10 outputs)": acc(predict(model2.cnn1, (tx1,)), ta),
    }

    # Filters: Euclidean E_ij and S_i both directions, within and between the models
    convs = {
        "m1.CNN1": cnn1.conv.weight,
        "m1.CNN2": cnn2.conv.weight,
        "m2.CNN1": model2.cnn1.conv.weight,
        "m2.CNN2": model2.cnn2.conv.weight,
    }
    pairs = [
        ("within model-1", "m1.CNN1", "m1.CNN2"),
        ("within model-2", "m2.CNN1", "m2.CNN2"),
        ("between models, CNN1", "m1.CNN1", "m2.CNN1"),
        ("between models, CNN2", "m1.CNN2", "m2.CNN2"),
    ]
    filters = {}
    for title, ka, kb in pairs:
        cmp = compare_filters(convs[ka], convs[kb], metric="euclidean")
        rand = compare_filters(random_like(convs[ka], 0), random_like(convs[kb], 1), metric="euclidean")
        if plots:
            slug = title.replace(" ", "_").replace(",", "")
            plot_comparison(cmp, out / f"filters_{slug}.png", title=f"{title}: {ka} vs {kb}", labels=(ka, kb))
        filters[title] = {
            "mean S (A ref)": cmp.summary["mean_S_a"],
            "mean S (B ref)": cmp.summary["mean_S_b"],
            "mean S random": rand.summary["mean_S_a"],
            "mean E": cmp.summary["mean_E"],
        }
    return {"accuracy": accuracy, "filters": filters, "curves": curves, "pairs": (len(y), len(ty))}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _plot(runs: list[dict], path: Path, title: str) -> None:
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name in runs[0]["curves"]:
        curves = torch.tensor([r["curves"][name] for r in runs])
        mean = curves.mean(0)
        epochs = range(1, len(mean) + 1)
        ax1.plot(epochs, mean, label=name)
        ax1.fill_between(epochs, curves.min(0).values, curves.max(0).values, alpha=0.2)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (mean, min-max over seeds)")
    ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    ax1.set_title("learning curves")
    keys = ["model-1 | LSTM (2b - a)", "model-2 | end to end (2b - a)", "model-1 | CNN1 (digit a)"]
    stats = [_mean_std([r["accuracy"][k] for r in runs]) for k in keys]
    ax2.bar(
        ["model-1\n(CNNs, then LSTM)", "model-2\n(end to end)", "model-1 CNN1\n(digit a)"],
        [m for m, _ in stats],
        yerr=[s for _, s in stats],
        capsize=4,
        color=["#4c72b0", "#dd8452", "#aaaaaa"],
    )
    for i, (m, _) in enumerate(stats):
        ax2.text(i, m + 0.01, f"{m:.3f}", ha="center", fontsize=8)
    ax2.scatter([0, 1], [0.494, 0.867], color="k", marker="x", zorder=3, label="seed paper")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel(f"test accuracy (mean ± std, {len(runs)} seeds)")
    ax2.legend(fontsize=8)
    ax2.set_title(title)
    save_figure(fig, path, dpi=120)


def main() -> None:
    (args,) = HfArgumentParser(ScriptArguments).parse_args_into_dataclasses()
    torch.set_num_threads(args.threads)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = []
    for i, seed in enumerate(args.seeds):
        t_seed = time.perf_counter()
        runs.append(run_seed(args, seed, out, plots=i == 0))
        runs[-1]["seconds"] = time.perf_counter() - t_seed
        print(f"seed {seed}: {runs[-1]['accuracy']} ({runs[-1]['seconds']:.0f} s)", flush=True)

    paper = {"model-1 | CNN1 (digit a)": 0.982, "model-1 | CNN2 (digit b)": 0.983, "model-1 | LSTM (2b - a)": 0.494,
             "model-2 | end to end (2b - a)": 0.867}  # fmt: skip
    rows = []
    for key in runs[0]["accuracy"]:
        model, network = key.split(" | ")
        values = [r["accuracy"][key] for r in runs]
        mean, std = _mean_std(values)
        rows.append({"model": model, "network": network, "test accuracy": f"{mean:.4f} ± {std:.4f}",
                     "runs": ", ".join(f"{v:.4f}" for v in values), "seed paper": paper.get(key)})  # fmt: skip
    filter_rows = []
    for title in runs[0]["filters"]:
        row = {"comparison": title}
        for stat in runs[0]["filters"][title]:
            mean, std = _mean_std([r["filters"][title][stat] for r in runs])
            row[stat] = f"{mean:.3f} ± {std:.3f}"
        filter_rows.append(row)
    _plot(runs, out / "accuracy_curves.png", f"{args.optimizer} lr {args.learning_rate}, {args.epochs} epochs")

    # Save: tables
    seconds = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k != "output_dir"}
    n_train, n_test = runs[0]["pairs"]
    (out / "results.json").write_text(
        json.dumps(
            {"settings": settings, "accuracy": rows, "filters": filter_rows, "runs": runs, "seconds": seconds},
            indent=2,
        )  # fmt: skip
    )
    text = (
        f"# sequence_cnn_lstm results (seed 001)\n\n`python benchmarks/merging/sequence_cnn_lstm/run.py` settings: "
        f"{settings}; {n_train} training pairs, {n_test} test pairs; {seconds:.0f} s for {len(runs)} seeds on the "
        f"shared 2-core CPU (1 torch thread).\n\nTest accuracy, mean ± std over seeds {list(args.seeds)}:\n\n"
        f"```\n{format_table(rows)}\n```\n\n"
        "First-conv filters (16 x 3x3), Euclidean; S = min_j E_ij, random = Gaussian weights of the same std "
        f"(mean ± std over seeds; filter PNGs from seed {args.seeds[0]}):\n\n"
        f"```\n{format_table(filter_rows)}\n```\n\n![accuracy and learning curves](accuracy_curves.png)\n"
    )
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
