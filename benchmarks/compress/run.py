"""Compression (structured pruning + KD recovery from the dense teacher) against its alternatives, on one CPU thread.

    python benchmarks/compress/run.py            # full run, writes results.{md,json,png} here
    python benchmarks/compress/run.py --quick    # smoke test (1 seed, 50 %, a few steps; writes nothing)

Protocol: a transformers ViT (28 px, patch 7, hidden 64, 4 blocks of 4 heads, 128 MLP neurons) is trained from
scratch on Fashion-MNIST (TRAIN images, AdamW lr 2e-3, batch 64); its test accuracy every CURVE_EVERY steps is the
learning curve, and the teacher budget is the step count at which it stops improving (the curve is in the results).
The recovery budget of every compressed model is one quarter of the teacher's steps. For every seed and fraction of
the prunable block weights removed (25 / 50 / 75 %):

- ``kd``: structured AFR (heads + neurons, `hfnet compress` defaults: one stage, dense teacher, T = 4, alpha = 0.9);
- (a) ``labels``: the same pruned model fine-tuned on labels only (alpha = 0: today's `hfnet prune --structured`);
- (b) ``scratch-kd``: the same smaller architecture, randomly initialised, trained with KD for the same steps;
- (c) ``u-afr``: unstructured AFR with as many weights zeroed as ``kd`` has fewer parameters, label fine-tuning;
- (d) ``kd-3stages``: three stages (each a third of the budget), each stage's teacher the previous stage;
- (e) ``kd-hints``: ``kd`` plus the block-to-block hint loss (weight 1).

(c)-(e) at 50 and 75 % only (the CPU budget). Evaluated on TEST Fashion-MNIST test images. ViT-B/16 latency (224 px,
random weights, 50 % removed as 6 of 12 heads and half the neurons, CPU batch 1 and 32) is measured in the same run.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from hfnet._plots import pyplot, save_figure
from hfnet.classifier import HubClassifier
from hfnet.compression.config import CompressConfig
from hfnet.compression.pipeline import recover_stage, run_stages
from hfnet.data import class_names, load_image_dataset
from hfnet.evaluation import evaluate_classifier
from hfnet.options import TrainingOptions
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.pipeline import run_pruning
from hfnet.pruning.structured import count_parameters
from hfnet.training import default_training_arguments, train_classifier
from hfnet.zoo import tiny_vit

HERE = Path(__file__).resolve().parent
SPARSITIES = (0.25, 0.5, 0.75)
SEEDS = (0, 1, 2)
BATCH, LR = 32, 1e-3


def train_teacher(data, steps: int, every: int) -> tuple[HubClassifier, list[tuple[int, float]]]:
    """Train the dense ViT from scratch, measuring test accuracy every ``every`` steps (the learning curve)."""
    from transformers import TrainerCallback

    clf = tiny_vit(class_names(data), image_size=28, patch_size=7, hidden_size=64, num_layers=4, num_heads=4, seed=0)
    curve: list[tuple[int, float]] = []

    class Curve(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % every == 0:
                curve.append((state.global_step, evaluate_classifier(clf, data["test"], progress=False)["accuracy"]))
                print(f"teacher step {state.global_step}: {curve[-1][1]:.4f}", flush=True)

    with tempfile.TemporaryDirectory() as work:
        train_classifier(clf, data["train"], output_dir=work, max_steps=steps, batch_size=BATCH, learning_rate=LR,
                         seed=0, disable_tqdm=True, logging_steps=10_000, callbacks=[Curve()])  # fmt: skip
    return clf.eval().requires_grad_(False), curve


def training(steps: int, seed: int) -> TrainingOptions:
    return TrainingOptions(max_steps=steps, batch_size=BATCH, learning_rate=LR, seed=seed, logging_steps=10_000)


def compressed(teacher, data, sparsity, seed, steps, **kwargs) -> HubClassifier:
    config = CompressConfig(sparsity=sparsity, pruning_seed=seed, calibration_samples=256, **kwargs)
    with tempfile.TemporaryDirectory() as work:
        student, _ = run_stages(teacher, data, config, training(steps, seed), work)
    return student


def scratch_kd(teacher, shape_of: HubClassifier, data, seed, steps) -> HubClassifier:
    """The same smaller architecture, randomly initialised, trained with KD from the teacher for the same steps."""
    from hfnet.compression.pipeline import _training_config

    torch.manual_seed(seed)
    model = type(shape_of.model)(copy.deepcopy(shape_of.model.config))
    student = HubClassifier.from_model(model, class_names=teacher.class_names, preprocessing=teacher.preprocessing)
    config = CompressConfig()
    with tempfile.TemporaryDirectory() as work:
        recover_stage(
            student, teacher, data["train"], config, _training_config(training(steps, seed), work, config, steps, 1)
        )
    return student


def unstructured_afr(teacher, data, fraction_of_params: float, seed, steps) -> HubClassifier:
    clf = copy.deepcopy(teacher).requires_grad_(True)
    from hfnet.pruning import prunable_parameters

    prunable = sum(p.numel() for p in prunable_parameters(clf).values())
    sparsity = fraction_of_params * count_parameters(clf.model) / prunable
    config = PruningConfig(method="afr", sparsity=sparsity, pruning_seed=seed)
    with tempfile.TemporaryDirectory() as work:
        args = default_training_arguments(work, max_steps=steps, batch_size=BATCH, learning_rate=LR, seed=seed,
                                          disable_tqdm=True, logging_steps=10_000)  # fmt: skip
        run_pruning(clf, data, config, args, save_dir=None, dataset_name="fashion_mnist", progress=False)
    return clf


def vit_b16_latency(repeats: dict[int, int]) -> dict:
    sys.path.insert(0, str(HERE.parent / "pruning"))
    from structured import vit_b16  # noqa: PLC0415 - the pruning benchmark's ViT-B/16 measurement, reused

    with tempfile.TemporaryDirectory() as work:
        return vit_b16([0.5], Path(work), repeats)["transformers"]


def run(quick: bool) -> dict:
    torch.set_num_threads(1)
    n_train, n_test = (60, 20) if quick else (600, 100)
    data = load_image_dataset("fashion_mnist", samples_per_class=n_train, test_samples_per_class=n_test, seed=0)
    teacher_steps, every = (40, 20) if quick else (1000, 125)
    t0 = time.perf_counter()
    teacher, curve = train_teacher(data, teacher_steps, every)
    dense_acc = curve[-1][1]
    budget = teacher_steps // 4
    seeds, sparsities = ((0,), (0.5,)) if quick else (SEEDS, SPARSITIES)
    rows = []
    for seed in seeds:
        for s in sparsities:
            runs = {"kd": compressed(teacher, data, s, seed, budget)}
            runs["labels"] = compressed(teacher, data, s, seed, budget, alpha=0.0)
            runs["scratch-kd"] = scratch_kd(teacher, runs["kd"], data, seed, budget)
            if s >= 0.5:
                removed = 1 - count_parameters(runs["kd"].model) / count_parameters(teacher.model)
                runs["u-afr"] = unstructured_afr(teacher, data, removed, seed, budget)
                runs["kd-3stages"] = compressed(teacher, data, s, seed, budget, stages=3, teacher_of_stage="previous")
                runs["kd-hints"] = compressed(teacher, data, s, seed, budget, hint_weight=1.0)
            for name, clf in runs.items():
                acc = evaluate_classifier(clf, data["test"], progress=False)["accuracy"]
                rows.append({"method": name, "sparsity": s, "seed": seed, "accuracy": acc,
                             "params": count_parameters(clf.model)})  # fmt: skip
                print(f"seed {seed} {s:.0%} {name}: {acc:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    latency = vit_b16_latency({1: 2, 32: 1} if quick else {1: 10, 32: 3})
    return {
        "dense_accuracy": dense_acc,
        "teacher_steps": teacher_steps,
        "recovery_steps": budget,
        "curve": curve,
        "rows": rows,
        "vit_b16": latency,
        "params_dense": count_parameters(teacher.model),
        "train_images": len(data["train"]),
        "test_images": len(data["test"]),
        "minutes": (time.perf_counter() - t0) / 60,
        "platform": f"{platform.machine()} CPU, torch {torch.__version__}, {torch.get_num_threads()} thread",
    }


METHODS = ("kd", "labels", "scratch-kd", "u-afr", "kd-3stages", "kd-hints")


def summarise(result: dict) -> dict:
    table: dict = {}
    for r in result["rows"]:
        table.setdefault(r["method"], {}).setdefault(r["sparsity"], []).append(r["accuracy"])
    return {
        m: {s: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for s, v in by.items()}
        for m, by in table.items()
    }


def write_results(result: dict) -> None:
    summary = summarise(result)
    dense = result["dense_accuracy"]
    lines = [
        "# Compression: structured AFR + KD recovery from the dense teacher (Fashion-MNIST ViT, CPU)",
        "",
        f"Command: `python benchmarks/compress/run.py` ({result['minutes']:.1f} min, {result['platform']}, shared).",
        "",
        f"Teacher: transformers ViT (28 px, patch 7, hidden 64, 4 blocks x 4 heads, 128 MLP neurons, "
        f"{result['params_dense']} parameters) trained from scratch for {result['teacher_steps']} AdamW steps of "
        f"{BATCH} on {result['train_images']} Fashion-MNIST images: **{dense:.4f}** on {result['test_images']} test "
        f"images. Learning curve (step: accuracy): "
        + ", ".join(f"{s}: {a:.3f}" for s, a in result["curve"])
        + f". Recovery budget of every compressed model: **{result['recovery_steps']} steps** (1/4 of the teacher's).",
        "",
        "## Test accuracy (mean +/- std over seeds), and the gap to the dense teacher in points",
        "",
        "| method | " + " | ".join(f"{s:.0%} removed" for s in SPARSITIES) + " |",
        "|---|" + "---|" * len(SPARSITIES),
    ]
    for m in METHODS:
        if m not in summary:
            continue
        cells = []
        for s in SPARSITIES:
            if s in summary[m]:
                mean, std = summary[m][s]
                cells.append(f"{mean:.4f} +/- {std:.4f} ({100 * (mean - dense):+.1f})")
            else:
                cells.append("")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    vb = result["vit_b16"]["per_sparsity"]["0.5"] if result["vit_b16"] else None
    lines += [
        "",
        "`kd` = hfnet compress defaults (1 stage, dense teacher, AFR, T 4, alpha 0.9, no hints); (a) `labels` = same "
        "pruned model, label fine-tuning; (b) `scratch-kd` = same small architecture from random weights with KD; "
        "(c) `u-afr` = unstructured AFR at the same parameter count, label fine-tuning; (d) `kd-3stages` = 3 stages, "
        "teacher = previous stage, same total steps; (e) `kd-hints` = kd + block hint MSE (weight 1).",
        "",
        "## ViT-B/16, 224 px, random weights, 50 % removed (6 of 12 heads, half the neurons): ratio to dense, CPU 1 thread",
        "",
        f"latency batch 1: {vb.get('latency_ratio_b1', float('nan')):.3f}x, batch 32: "
        f"{vb.get('latency_ratio_b32', float('nan')):.3f}x, parameters {vb['params_ratio']:.3f}x, file "
        f"{vb['size_ratio']:.3f}x."
        if vb
        else "not measured in this (stopped) run; see `benchmarks/pruning/structured.md` for the same export.",
        "",
        "## Against the goals",
        "",
    ]
    for s, goal in ((0.5, 1.0), (0.75, 2.0)):
        if s in summary.get("kd", {}):
            gap = 100 * (dense - summary["kd"][s][0])
            best = max(summary[m][s][0] for m in summary if s in summary[m])
            lines.append(
                f"- {s:.0%} removed: kd {-gap:+.1f} points against the teacher (goal: no more than {goal} below): "
                f"{'met' if gap <= goal else 'missed'}; best variant {100 * (best - dense):+.1f} points against the teacher; "
                f"beats (a) labels: {summary['kd'][s][0] > summary['labels'][s][0]}, "
                f"beats (b) scratch-kd: {summary['kd'][s][0] > summary['scratch-kd'][s][0]}."
            )
    if vb:
        lat_ok = max(vb.get("latency_ratio_b1", 9), vb.get("latency_ratio_b32", 9)) <= 0.55
        lines.append(f"- ViT-B/16 latency at 50 % <= 0.55x at batch 1 and 32: {'met' if lat_ok else 'missed'}.")
    if result.get("partial"):
        lines.insert(
            2, f"**Partial run**: {result['partial']} (the shared machine ran about 3x slower than planned).\n"
        )
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    (HERE / "results.json").write_text(json.dumps(result, indent=1, default=str))
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for m in METHODS:
        if m in summary:
            xs = [s for s in SPARSITIES if s in summary[m]]
            ax.errorbar([100 * s for s in xs], [summary[m][s][0] for s in xs], yerr=[summary[m][s][1] for s in xs],
                        marker="o", capsize=3, label=m)  # fmt: skip
    ax.axhline(dense, color="k", ls="--", label="dense teacher")
    ax.set_xlabel("% of prunable block weights removed")
    ax.set_ylabel("Fashion-MNIST test accuracy")
    ax.set_title(f"Compression, recovery {result['recovery_steps']} steps (1/4 of teacher)")
    ax.legend(fontsize=8)
    save_figure(fig, HERE / "results.png")


def from_log(path: Path) -> dict:
    """Rebuild the result from the progress lines of a run that was stopped (the rows it finished; no ViT-B/16)."""
    import re

    curve, rows = [], []
    for line in path.read_text().splitlines():
        if m := re.fullmatch(r"teacher step (\d+): ([\d.]+)", line):
            curve.append((int(m[1]), float(m[2])))
        elif m := re.fullmatch(r"seed (\d+) (\d+)% (\S+): ([\d.]+) \((\d+) s\)", line):
            rows.append({"method": m[3], "sparsity": int(m[2]) / 100, "seed": int(m[1]), "accuracy": float(m[4]),
                         "seconds": int(m[5])})  # fmt: skip
    teacher = tiny_vit([str(i) for i in range(10)], image_size=28, patch_size=7, hidden_size=64, num_layers=4)
    return {
        "dense_accuracy": curve[-1][1], "teacher_steps": curve[-1][0], "recovery_steps": curve[-1][0] // 4,
        "curve": curve, "rows": rows, "vit_b16": None, "params_dense": count_parameters(teacher.model),
        "train_images": 6000, "test_images": 1000, "minutes": rows[-1]["seconds"] / 60,
        "platform": f"{platform.machine()} CPU, torch {torch.__version__}, 1 thread",
        "partial": f"stopped after {len(rows)} runs (seeds {sorted({r['seed'] for r in rows})})",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--from-log", default=None, help="write the results of a stopped run from its log")
    parser.add_argument("--rewrite", action="store_true", help="render results.md / .png again from results.json")
    args = parser.parse_args()
    if args.rewrite:
        write_results(json.loads((HERE / "results.json").read_text()))
        return
    if args.from_log:
        write_results(from_log(Path(args.from_log)))
        return
    result = run(args.quick)
    print(json.dumps(summarise(result), indent=1, default=str))
    if not args.quick:
        write_results(result)


if __name__ == "__main__":
    main()
