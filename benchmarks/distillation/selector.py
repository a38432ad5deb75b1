"""Multimodal selector on MNIST: two modalities = the left and the right half of each digit.

    python benchmarks/distillation/selector.py          # writes selector_results.md / .json / selector.png here

One tiny ResNet per modality (sees only its half; the other half is black), trained on clean images. At test time
one modality per sample (chosen at random) is degraded by Gaussian noise or a black square at several levels. The
selector (an MLP on both classifiers' softmax outputs, trained on held-out degraded images to name the undegraded
modality) picks which classifier answers. Baselines: each single modality, and averaging the two probability vectors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
NOISE = [0.0, 0.25, 0.5, 1.0, 2.0]
OCCLUSION = [0.0, 0.25, 0.5, 0.75, 1.0]
HALVES = {"left": (0, 0, 28, 14), "right": (0, 14, 28, 14)}  # (top, left, height, width)


def _images(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    x = torch.from_numpy(np.stack([np.asarray(im.convert("L"), dtype=np.float32) for im in dataset["image"]])) / 255
    return x[:, None], torch.tensor(dataset["label"])


def _view(images: torch.Tensor, half: str) -> torch.Tensor:
    top, left, h, w = HALVES[half]
    out = torch.zeros_like(images)
    out[..., top : top + h, left : left + w] = images[..., top : top + h, left : left + w]
    return out


def _degrade(images: torch.Tensor, kind: str, level: float, half: str, g: torch.Generator) -> torch.Tensor:
    from hfnet.distillation.selector import gaussian_noise, occlude

    if level == 0:
        return _view(images, half)
    if kind == "noise":
        return _view(gaussian_noise(images, level, g), half)
    return _view(occlude(images, level, g, region=HALVES[half]), half)


def _normalise(gray: torch.Tensor, pre) -> torch.Tensor:
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


@torch.no_grad()
def _probs(model, gray: torch.Tensor) -> torch.Tensor:
    model.eval()
    x = _normalise(gray, model.preprocessing)
    return torch.cat([model.logits(x[i : i + 512]).softmax(1) for i in range(0, len(x), 512)])


def _degraded_pair(images, kinds, levels, g):
    """Both modality views; per sample one modality (returned) is degraded with its kind / level."""
    n = len(images)
    degraded = torch.randint(0, 2, (n,), generator=g)
    views = {h: _view(images, h) for h in HALVES}
    for i, half in enumerate(HALVES):
        for kind in set(kinds):
            for level in set(levels):
                idx = [j for j in range(n) if degraded[j] == i and kinds[j] == kind and levels[j] == level]
                if idx:
                    sel = torch.tensor(idx)
                    views[half][sel] = _degrade(images[sel], kind, level, half, g)
    return views, degraded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--quick", action="store_true")
    cli = parser.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    from hfnet.data import class_names, load_image_dataset
    from hfnet.distillation.selector import average_predictions, select_predictions, train_selector
    from hfnet.training import train_classifier
    from hfnet.zoo import tiny_resnet

    t0 = time.perf_counter()
    per_class, test_per_class = (100, 50) if cli.quick else (1000, 300)
    data = load_image_dataset("mnist", samples_per_class=per_class, test_samples_per_class=test_per_class, seed=0)
    names = class_names(data)
    images, labels = _images(data["train"])
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(labels), generator=g)
    split = int(0.6 * len(labels))
    clf_idx, sel_idx = perm[:split], perm[split:]
    test_images, test_labels = _images(data["test"])

    # One classifier per modality, trained on clean views
    classifiers = {}
    clean_acc = {}
    for i, half in enumerate(HALVES):
        model = tiny_resnet(names, image_size=28, embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1), seed=i)
        x = _normalise(_view(images[clf_idx], half), model.preprocessing)
        train = [{"pixel_values": x[j], "labels": int(labels[clf_idx][j])} for j in range(len(x))]
        train_classifier(
            model,
            train,
            output_dir=f"/tmp/hfnet-bench-selector/{half}",
            epochs=1 if cli.quick else 3,
            batch_size=64,
            learning_rate=2e-3,
            disable_tqdm=True,
        )
        classifiers[half] = model
        clean_acc[half] = float((_probs(model, _view(test_images, half)).argmax(1) == test_labels).float().mean())

    # Selector, trained on held-out images with one modality degraded (random kind and non-zero level)
    n_sel = len(sel_idx)
    kinds = ["noise" if k else "occlusion" for k in torch.randint(0, 2, (n_sel,), generator=g).tolist()]
    levels = [(NOISE if k == "noise" else OCCLUSION)[int(torch.randint(1, 5, (1,), generator=g))] for k in kinds]
    views, degraded = _degraded_pair(images[sel_idx], kinds, levels, g)
    probs = [_probs(classifiers[h], views[h]) for h in HALVES]
    selector = train_selector(probs, 1 - degraded, epochs=10 if cli.quick else 30)

    # Accuracy against degradation level
    rows = []
    for kind, grid in (("noise", NOISE), ("occlusion", OCCLUSION)):
        for level in grid:
            n = len(test_labels)
            views, degraded = _degraded_pair(test_images, [kind] * n, [level] * n, torch.Generator().manual_seed(1))
            probs = [_probs(classifiers[h], views[h]) for h in HALVES]
            pred_sel, chosen = select_predictions(selector, probs)
            stacked = torch.stack(probs, 1)
            oracle = stacked[torch.arange(n), 1 - degraded].argmax(1)
            row = {
                "degradation": kind,
                "level": level,
                "left only": float((probs[0].argmax(1) == test_labels).float().mean()),
                "right only": float((probs[1].argmax(1) == test_labels).float().mean()),
                "average": float((average_predictions(probs) == test_labels).float().mean()),
                "selector": float((pred_sel == test_labels).float().mean()),
                "oracle (clean modality)": float((oracle == test_labels).float().mean()),
                "selection accuracy": float((chosen == 1 - degraded).float().mean()) if level > 0 else None,
            }
            rows.append(row)
            print(row, flush=True)

    total = time.perf_counter() - t0
    report = {
        "setup": {
            "dataset": f"mnist: {len(clf_idx)} train images for the classifiers, {n_sel} for the selector, "
            f"{len(test_labels)} test",
            "modalities": "left half / right half of each 28x28 digit (the other half black)",
            "classifier": "hfnet.zoo.tiny_resnet (embedding 16, hidden 16-32), clean training",
            "selector": "MLP 20 -> 64 -> 2 on both softmax vectors, trained to name the undegraded modality",
            "noise_sigma": NOISE,
            "occlusion_fraction_of_half": OCCLUSION,
            "quick": cli.quick,
        },
        "clean_accuracy": clean_acc,
        "rows": rows,
        "total_seconds": total,
    }
    cli.out.mkdir(parents=True, exist_ok=True)
    (cli.out / "selector_results.json").write_text(json.dumps(report, indent=2))
    _plot(rows, cli.out / "selector.png")
    methods = ["left only", "right only", "average", "selector", "oracle (clean modality)", "selection accuracy"]
    lines = [
        "# Multimodal selector (MNIST left / right halves)",
        "",
        f"`python benchmarks/distillation/selector.py` ({total:.0f} s on a shared 2-core CPU). {report['setup']['dataset']}. "
        f"Clean accuracy: left half {clean_acc['left']:.4f}, right half {clean_acc['right']:.4f}. At each level one "
        "modality per test sample (at random) is degraded: Gaussian noise of std sigma on [0, 1] pixels, or a black "
        "square covering the given fraction of the half.",
        "",
        "| degradation | level | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for r in rows:
        cells = [f"{r[m]:.4f}" if r[m] is not None else "-" for m in methods]
        lines.append(f"| {r['degradation']} | {r['level']} | " + " | ".join(cells) + " |")
    lines += ["", "![selector](selector.png)", ""]
    (cli.out / "selector_results.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _plot(rows, path: Path) -> None:
    from hfnet._plots import pyplot, save_figure

    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    methods = ["left only", "right only", "average", "selector", "oracle (clean modality)"]
    styles = {"left only": ":", "right only": ":", "average": "--", "selector": "-", "oracle (clean modality)": "-."}
    for ax, kind, xlabel in zip(axes, ("noise", "occlusion"), ("noise sigma", "occluded fraction of the half")):
        sub = [r for r in rows if r["degradation"] == kind]
        for m in methods:
            ax.plot([r["level"] for r in sub], [r[m] for r in sub], styles[m], marker="o", label=m)
        ax.set_xlabel(xlabel)
        ax.set_title(f"one modality degraded by {kind}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(fontsize=8)
    save_figure(fig, path, dpi=120)


if __name__ == "__main__":
    main()
