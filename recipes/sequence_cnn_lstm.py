"""Seed 001 at CPU scale: the MNIST arithmetic-sequence task (predict 2b - a), model-1 vs model-2, and the
Euclidean filter comparison of their CNNs (16 first-conv filters, E_ij, S_i = min_j E_ij both directions).

model-1: CNN1 and CNN2 trained as digit classifiers on the first / second images, then an LSTM trained on their
predicted labels of the training images; model-2: the CNNs' 10-d outputs fed into the LSTM, trained end to end.

    python recipes/sequence_cnn_lstm.py --output_dir benchmarks/merging/sequence_cnn_lstm
    python recipes/sequence_cnn_lstm.py --optimizer sgd --learning_rate 0.01 --epochs 100   # the seed's settings
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser

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
    epochs: int = field(default=10, metadata={"help": "epochs for every network (seed: 100)"})
    batch_size: int = field(default=128)
    optimizer: str = field(default="adam", metadata={"help": "adam | sgd (seed: sgd, lr 0.01)"})
    learning_rate: float = field(default=1e-3)
    seed: int = field(default=0)
    threads: int = field(default=1, metadata={"help": "torch threads (the CPU is shared)"})


def to_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.stack([np.asarray(im.convert("L"), dtype=np.float32) / 255.0 for im in split["image"]])
    # a fixed shuffle so that mirrored pairs mix classes
    return torch.from_numpy(images)[:, None], torch.tensor(split["label"], dtype=torch.long)


def main() -> None:
    (args,) = HfArgumentParser(ScriptArguments).parse_args_into_dataclasses()
    torch.set_num_threads(args.threads)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    # Dataset
    mnist = load_image_dataset(
        "mnist", samples_per_class=args.train_per_class, test_samples_per_class=args.test_per_class, seed=args.seed
    )
    train = arithmetic_pairs(*to_tensors(mnist["train"].shuffle(seed=args.seed)))
    test = arithmetic_pairs(*to_tensors(mnist["test"].shuffle(seed=args.seed)))
    x1, x2, a, b, y = train
    tx1, tx2, ta, tb, ty = test

    def cfg(seed: int) -> FitConfig:
        return FitConfig(args.epochs, args.batch_size, args.learning_rate, args.optimizer, seed)

    # Train model-1: two digit CNNs, then an LSTM on their predicted labels
    torch.manual_seed(args.seed)
    cnn1 = DigitCNN()
    torch.manual_seed(args.seed + 1)
    cnn2 = DigitCNN()
    fit(cnn1, (x1,), a, cfg(args.seed))
    fit(cnn2, (x2,), b, cfg(args.seed + 1))
    lstm = SequenceLSTM()
    fit(lstm, (one_hot_sequence(predict(cnn1, (x1,)), predict(cnn2, (x2,))),), y, cfg(args.seed + 2))
    pa, pb = predict(cnn1, (tx1,)), predict(cnn2, (tx2,))
    m1_pred = predict(lstm, (one_hot_sequence(pa, pb),))

    # Train model-2: end to end
    torch.manual_seed(args.seed + 3)
    model2 = EndToEnd()
    fit(model2, (x1, x2), y, cfg(args.seed + 3))
    m2_pred = predict(model2, (tx1, tx2))

    def acc(pred, ref) -> float:
        return float((pred == ref).float().mean())

    rows = [
        {"model": "model-1", "network": "CNN1 (digit a)", "test accuracy": acc(pa, ta), "seed paper": 0.982},
        {"model": "model-1", "network": "CNN2 (digit b)", "test accuracy": acc(pb, tb), "seed paper": 0.983},
        {"model": "model-1", "network": "LSTM (2b - a)", "test accuracy": acc(m1_pred, ty), "seed paper": 0.494},
        {"model": "model-1", "network": "LSTM on true labels (2b - a)",
         "test accuracy": acc(predict(lstm, (one_hot_sequence(ta, tb),)), ty), "seed paper": None},
        {"model": "model-2", "network": "end to end (2b - a)", "test accuracy": acc(m2_pred, ty), "seed paper": 0.867},
        {"model": "model-2", "network": "CNN1 as digit classifier (argmax of its 10 outputs)",
         "test accuracy": acc(predict(model2.cnn1, (tx1,)), ta), "seed paper": None},
    ]  # fmt: skip

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
    filter_rows = []
    for title, ka, kb in pairs:
        cmp = compare_filters(convs[ka], convs[kb], metric="euclidean")
        rand = compare_filters(random_like(convs[ka], 0), random_like(convs[kb], 1), metric="euclidean")
        slug = title.replace(" ", "_").replace(",", "")
        plot_comparison(cmp, out / f"filters_{slug}.png", title=f"{title}: {ka} vs {kb}", labels=(ka, kb))
        filter_rows.append(
            {
                "comparison": title,
                "A": ka,
                "B": kb,
                "mean S (A ref)": cmp.summary["mean_S_a"],
                "max S (A ref)": float(cmp.s_a.max()),
                "mean S (B ref)": cmp.summary["mean_S_b"],
                "max S (B ref)": float(cmp.s_b.max()),
                "mean S random": rand.summary["mean_S_a"],
                "mean E": cmp.summary["mean_E"],
            }
        )

    # Save: tables
    seconds = time.perf_counter() - t0
    settings = {k: v for k, v in vars(args).items() if k != "output_dir"}
    (out / "results.json").write_text(
        json.dumps({"settings": settings, "accuracy": rows, "filters": filter_rows, "seconds": seconds}, indent=2)
    )
    text = (
        f"# sequence_cnn_lstm results\n\nsettings: {settings}; {len(y)} training pairs, {len(ty)} test pairs; "
        f"{seconds:.0f} s on the shared 2-core CPU.\n\n```\n{format_table(rows)}\n```\n\n"
        f"First-conv filters (16 x 3x3), Euclidean; S = min_j E_ij, random = Gaussian weights of the same std:\n\n"
        f"```\n{format_table(filter_rows, '{:.3f}')}\n```\n"
    )
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
