"""Distillation benchmark on Fashion-MNIST at CPU scale: teacher, scratch student, KD, TA chain, hint + TA, merit.

    python benchmarks/distillation/run.py            # full run, writes results.md / results.json / PNGs here
    python benchmarks/distillation/run.py --quick    # smoke run (minutes -> seconds)

Models are transformers ResNets from :func:`hfnet.zoo.tiny_resnet` (BatchNorm, residuals): teacher ~312k
parameters, teacher assistant ~80k, student ~47k (about 1/7 of the teacher, as in the seed). The teacher is trained
once (seed 0) with its learning curve recorded. The student budget is chosen from learning curves: a scratch and a KD
student are trained for ``--curve-epochs`` with validation accuracy (held-out training images) after every epoch, and
the budget is the first epoch whose smoothed validation accuracy is within 0.5 points of the curve's best (the later of
the two curves). Assistants are distilled once from the teacher with that budget; every student variant is then
trained with 3 seeds for that budget, its validation curve recorded, and scored on the test split. KD runs use the
teacher-logit cache (the training images are fixed tensors), the hint stages run the teacher.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import torch

torch.set_num_threads(1)  # shared 2-core machine: keep one core for the others

HERE = Path(__file__).resolve().parent
TEACHER = dict(embedding_size=32, hidden_sizes=(32, 64, 128), depths=(1, 1, 1))
ASSISTANT = dict(embedding_size=16, hidden_sizes=(16, 32, 64), depths=(1, 1, 1))
STUDENT = dict(embedding_size=12, hidden_sizes=(12, 24, 48), depths=(1, 1, 1))
HINT = "resnet.encoder.stages.1:resnet.encoder.stages.1"
# T = 4, alpha = 0.5 won a one-seed sweep on 1500 held-out training images (T in 1, 2, 4; alpha in 0.5, 0.9):
# val accuracy 0.833 vs 0.827 (alpha 0.9) and 0.825 (scratch), differences of the size of the seed noise.
ALPHA = 0.5


class TensorImages(torch.utils.data.Dataset):
    """Preprocessed pixels kept in memory (deterministic, so the teacher-logit cache is allowed)."""

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        self.pixels, self.labels = pixels, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"pixel_values": self.pixels[i], "labels": int(self.labels[i])}


def _tensors(dataset, preprocessing) -> TensorImages:
    from hfnet.preprocessing import build_transform

    fn = build_transform(preprocessing)
    pixels = torch.stack([fn(im) for im in dataset["image"]])
    return TensorImages(pixels, torch.tensor(dataset["label"]))


def _args(out: Path, seed: int, epochs: float, **kw):
    from hfnet.distillation.config import DistillationConfig

    base = dict(
        output_dir=str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=64,
        per_device_eval_batch_size=256,
        learning_rate=2e-3,
        weight_decay=0.0,
        seed=seed,
        data_seed=seed,
        save_strategy="no",
        report_to=[],
        logging_steps=50,
        disable_tqdm=True,
        use_cpu=True,
        dataloader_pin_memory=False,
        temperature=4.0,
        alpha=ALPHA,
    )
    base.update(kw)
    return DistillationConfig(**base)


def _accuracy(model, data: TensorImages) -> float:
    from hfnet._modelstate import eval_mode

    correct = 0
    with torch.no_grad(), eval_mode(model):
        for i in range(0, len(data), 512):
            logits = model.logits(data.pixels[i : i + 512])
            correct += int((logits.argmax(1) == data.labels[i : i + 512]).sum())
    return correct / len(data)


def _curve_callback(model, val: TensorImages | None, curve: list[float]):
    """Validation accuracy of ``model`` after every epoch, appended to ``curve`` (modes restored for training)."""
    from transformers import TrainerCallback

    class Curve(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            if val is not None:
                curve.append(_accuracy(model, val))

    return Curve()


def _train_scratch(model, train: TensorImages, args, val: TensorImages | None = None, curve=None) -> float:
    from transformers import Trainer, set_seed

    from hfnet.data import collate_fn

    set_seed(args.seed)
    callbacks = [_curve_callback(model, val, curve)] if curve is not None else None
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collate_fn, callbacks=callbacks)
    out = trainer.train()
    model.eval()
    return out.metrics["train_runtime"]


def _distill(student, teacher, train: TensorImages, args, val: TensorImages | None = None, curve=None) -> float:
    from transformers import set_seed

    from hfnet.distillation.hint import run_hint_stage
    from hfnet.distillation.trainer import DistillationTrainer

    set_seed(args.seed)
    teacher.eval().requires_grad_(False)
    t0 = time.perf_counter()
    if args.hint:
        run_hint_stage(student, teacher, train, args, args.hint)
    callbacks = [_curve_callback(student, val, curve)] if curve is not None else None
    trainer = DistillationTrainer(student, teacher, args, train_dataset=train, callbacks=callbacks)
    trainer.train()
    student.eval()
    return time.perf_counter() - t0


def choose_budget(curve: list[float], tolerance: float = 0.005, window: int = 3) -> int:
    """First epoch whose centred moving average (``window`` epochs) of validation accuracy is within ``tolerance``
    of the best moving average: where the curve has flattened."""
    k = len(curve)
    smooth = [statistics.mean(curve[max(0, i - window // 2) : min(k, i + window // 2 + 1)]) for i in range(k)]
    best = max(smooth)
    return next(i + 1 for i, v in enumerate(smooth) if v >= best - tolerance)


def _step_costs(teacher, train: TensorImages, names, out: Path, steps: int, repeats: int) -> dict:
    """Seconds per optimizer step: student alone, teacher forward, KD, KD with the logit cache."""
    from hfnet.distillation.trainer import DistillationTrainer
    from hfnet.zoo import tiny_resnet

    rows: dict[str, list[float]] = {"student_step": [], "teacher_forward": [], "kd_step": [], "kd_cached_step": []}
    cache_build = []
    for r in range(repeats):
        args = _args(out / "timing", r, 1.0, max_steps=steps, logging_steps=10_000)
        student = tiny_resnet(names, image_size=28, seed=r, **STUDENT)
        rows["student_step"].append(_train_scratch(student, train, args) / steps)
        teacher.eval()
        batches = [train.pixels[i * 64 : (i + 1) * 64] for i in range(steps)]
        with torch.no_grad():
            t0 = time.perf_counter()
            for b in batches:
                teacher.logits(b)
            rows["teacher_forward"].append((time.perf_counter() - t0) / steps)
        for key, cache in (("kd_step", False), ("kd_cached_step", True)):
            student = tiny_resnet(names, image_size=28, seed=r, **STUDENT)
            trainer = DistillationTrainer(
                student,
                teacher,
                _args(out / "timing", r, 1.0, max_steps=steps, cache_teacher_logits=cache, logging_steps=10_000),
                train_dataset=train,
            )
            if cache:
                t0 = time.perf_counter()
                trainer.get_train_dataloader()  # builds the cache once; train() reuses it
                cache_build.append(time.perf_counter() - t0)
            rows[key].append(trainer.train().metrics["train_runtime"] / steps)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        **{f"{k}_ms": 1000 * v for k, v in med.items()},
        "ratio_kd": med["kd_step"] / (med["student_step"] + med["teacher_forward"]),
        "ratio_kd_cached_vs_student": med["kd_cached_step"] / med["student_step"],
        "cache_build_s": statistics.median(cache_build),
        "steps": steps,
        "repeats": repeats,
    }


def _plot(summary: dict, curves: dict, budget_curves: dict, budget: int, n_params: dict, path: Path) -> None:
    from hfnet._plots import pyplot, save_figure

    plt = pyplot()

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    for name, curve in budget_curves.items():
        ax0.plot(range(1, len(curve) + 1), curve, marker=".", label=name)
    ax0.axvline(budget, color="k", ls="--", lw=0.8, label=f"chosen budget: {budget} epochs")
    ax0.set_xlabel("epoch")
    ax0.set_ylabel("validation accuracy")
    ax0.set_title("choosing the student budget (seed 0)")
    ax0.legend(fontsize=8)
    for name, runs in curves.items():
        runs = [r for r in runs if r]
        if not runs:
            continue
        mean = [statistics.mean(v) for v in zip(*runs)]
        ax1.plot(range(1, len(mean) + 1), mean, label=name)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation accuracy (mean of seeds)")
    ax1.set_title("student learning curves at the chosen budget")
    ax1.legend(fontsize=7)
    methods = [m for m in summary if m != "teacher"]
    means = [summary[m]["mean"] for m in methods]
    stds = [summary[m]["std"] for m in methods]
    ax2.bar(methods, means, yerr=stds, capsize=4, color=["#aaaaaa"] + ["#4c72b0"] * (len(methods) - 1))
    for i, m in enumerate(methods):
        ax2.scatter([i] * len(summary[m]["runs"]), summary[m]["runs"], color="k", s=8, zorder=3)
        ax2.text(i, means[i] + stds[i] + 0.002, f"{means[i]:.3f}", ha="center", fontsize=8)
    lo = min(min(summary[m]["runs"]) for m in methods)
    ax2.set_ylim(max(0.0, lo - 0.02), min(1.0, max(means) + 0.02))
    ax2.axhline(summary[methods[0]]["mean"], color="#aaaaaa", lw=0.8, ls="--")
    ax2.set_ylabel("test accuracy (mean ± std, 3 seeds)")
    ax2.set_title(
        f"teacher {n_params['teacher'] / 1e3:.0f}k ({summary['teacher']['mean']:.3f}) -> "
        f"student {n_params['student'] / 1e3:.0f}k parameters"
    )
    plt.setp(ax2.get_xticklabels(), rotation=20, ha="right", fontsize=8)
    save_figure(fig, path, dpi=120)


def _plot_costs(costs: dict, path: Path) -> None:
    from hfnet._plots import pyplot, save_figure

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(["KD step", "KD step, cached logits"], [costs["kd_step_ms"], costs["kd_cached_step_ms"]], color="#4c72b0")
    ax.barh(["student step + teacher fwd"], [costs["student_step_ms"]], color="#aaaaaa", label="student step")
    ax.barh(
        ["student step + teacher fwd"],
        [costs["teacher_forward_ms"]],
        left=[costs["student_step_ms"]],
        color="#dd8452",
        label="teacher forward",
    )
    ax.set_xlabel("ms per optimizer step (batch 64)")
    ax.legend(fontsize=8)
    ax.set_title(f"KD / (student + teacher fwd) = {costs['ratio_kd']:.2f}x")
    save_figure(fig, path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--curve-epochs", type=int, default=20, help="length of the budget-choosing curves")
    parser.add_argument("--out", type=Path, default=HERE)
    cli = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import transformers

    transformers.logging.set_verbosity_error()

    from hfnet.data import class_names, load_image_dataset
    from hfnet.zoo import tiny_resnet

    t_start = time.perf_counter()
    per_class, val_per_class, test_per_class = (60, 20, 20) if cli.quick else (400, 100, 300)
    teacher_epochs = 1 if cli.quick else cli.teacher_epochs
    curve_epochs = 3 if cli.quick else cli.curve_epochs
    hint_epochs = 0.5 if cli.quick else 1.0
    seeds = cli.seeds[:1] if cli.quick else cli.seeds
    work = Path("/tmp/hfnet-bench-distillation")

    # Dataset: train / validation (held-out training images, for the curves) / test
    data = load_image_dataset(
        "fashion_mnist", samples_per_class=per_class + val_per_class, test_samples_per_class=test_per_class
    )
    names = class_names(data)
    split = data["train"].train_test_split(test_size=10 * val_per_class, stratify_by_column="label", seed=0)
    pre = tiny_resnet(names, image_size=28, **STUDENT).preprocessing
    train, val, test = (_tensors(d, pre) for d in (split["train"], split["test"], data["test"]))

    # Teacher (seed 0), with its validation curve
    teacher = tiny_resnet(names, image_size=28, seed=0, **TEACHER)
    teacher_curve: list[float] = []
    teacher_time = _train_scratch(teacher, train, _args(work / "teacher", 0, teacher_epochs), val, teacher_curve)
    results: dict[str, list[float]] = {"teacher": [_accuracy(teacher, test)]}
    print(f"teacher: test {results['teacher'][0]:.4f}, val curve {teacher_curve}", flush=True)

    # Student budget from learning curves (seed 0): scratch and KD
    budget_curves: dict[str, list[float]] = {"student scratch": [], "student KD": []}
    t_budget = time.perf_counter()
    student = tiny_resnet(names, image_size=28, seed=1000, **STUDENT)
    _train_scratch(student, train, _args(work / "curve", 0, curve_epochs), val, budget_curves["student scratch"])
    student = tiny_resnet(names, image_size=28, seed=1000, **STUDENT)
    _distill(student, teacher, train, _args(work / "curve", 0, curve_epochs, cache_teacher_logits=True), val,
             budget_curves["student KD"])  # fmt: skip
    budget = max(choose_budget(c) for c in budget_curves.values())
    budget_seconds = time.perf_counter() - t_budget
    print(f"budget {budget} epochs from curves {budget_curves}", flush=True)

    # Assistants distilled from the teacher with the same budget
    ta_kd = tiny_resnet(names, image_size=28, seed=100, **ASSISTANT)
    _distill(ta_kd, teacher, train, _args(work / "ta", 0, budget, cache_teacher_logits=True))
    ta_hint = tiny_resnet(names, image_size=28, seed=100, **ASSISTANT)
    _distill(ta_hint, teacher, train,
             _args(work / "ta_hint", 0, budget, hint=HINT, hint_epochs=hint_epochs, cache_teacher_logits=True))  # fmt: skip
    assistant_acc = {"ta_kd": _accuracy(ta_kd, test), "ta_hint": _accuracy(ta_hint, test)}
    n_params = {
        "teacher": sum(p.numel() for p in teacher.parameters()),
        "assistant": sum(p.numel() for p in ta_kd.parameters()),
        "student": sum(p.numel() for p in tiny_resnet(names, image_size=28, **STUDENT).parameters()),
    }

    # Students, 3 seeds each, at the chosen budget
    variants = {
        "student (scratch)": None,
        "KD": dict(teacher=teacher),
        "TA chain": dict(teacher=ta_kd),
        "hint + TA": dict(teacher=ta_hint, hint=HINT, hint_epochs=hint_epochs),
        "merit (alpha 0.5 +/- 0.1)": dict(teacher=teacher, merit_delta=0.1),
    }
    times: dict[str, list[float]] = {}
    curves: dict[str, list[list[float]]] = {}
    for name, spec in variants.items():
        results[name] = []
        for seed in seeds:
            student = tiny_resnet(names, image_size=28, seed=1000 + seed, **STUDENT)
            curve: list[float] = []
            if spec is None:
                seconds = _train_scratch(student, train, _args(work / "scratch", seed, budget), val, curve)
            else:
                kw = {k: v for k, v in spec.items() if k != "teacher"}
                args = _args(work / "kd", seed, budget, cache_teacher_logits=True, **kw)
                seconds = _distill(student, spec["teacher"], train, args, val, curve)
            results[name].append(_accuracy(student, test))
            times.setdefault(name, []).append(seconds)
            curves.setdefault(name, []).append(curve)
            print(f"{name:20s} seed {seed}: {results[name][-1]:.4f} ({seconds:.1f} s)", flush=True)

    costs = _step_costs(teacher, train, names, work, steps=10 if cli.quick else 60, repeats=1 if cli.quick else 2)
    summary = {
        k: {
            "mean": statistics.mean(v),
            "std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "runs": v,
            "seconds_mean": statistics.mean(times[k]) if k in times else teacher_time,
        }
        for k, v in results.items()
    }
    total = time.perf_counter() - t_start
    report = {
        "setup": {
            "dataset": f"fashion_mnist, {len(train)} train / {len(val)} validation / {len(test)} test images (28x28)",
            "teacher_epochs": teacher_epochs,
            "student_budget_epochs": budget,
            "curve_epochs": curve_epochs,
            "hint_epochs": hint_epochs,
            "batch_size": 64,
            "learning_rate": 2e-3,
            "temperature": 4.0,
            "alpha": ALPHA,
            "hint": HINT,
            "parameters": n_params,
            "seeds": seeds,
            "torch_threads": 1,
            "quick": cli.quick,
        },
        "accuracy": summary,
        "assistant_accuracy": assistant_acc,
        "curves": {"teacher": teacher_curve, "budget": budget_curves, "students": curves},
        "budget_seconds": budget_seconds,
        "step_cost": costs,
        "total_seconds": total,
    }
    cli.out.mkdir(parents=True, exist_ok=True)
    (cli.out / "results.json").write_text(json.dumps(report, indent=2))
    _plot(summary, curves, budget_curves, budget, n_params, cli.out / "accuracy.png")
    _plot_costs(costs, cli.out / "step_cost.png")
    lines = [
        "# Distillation benchmark (Fashion-MNIST, CPU)",
        "",
        f"`python benchmarks/distillation/run.py` ({'quick' if cli.quick else 'full'} run, {total / 60:.1f} min on "
        "a shared 2-core CPU, 1 torch thread).",
        "",
        f"Data: {report['setup']['dataset']}. Teacher: tiny ResNet {n_params['teacher']:,} parameters, "
        f"{teacher_epochs} epochs (validation accuracy by epoch: "
        f"{', '.join(f'{v:.3f}' for v in teacher_curve)}). Teacher assistant: {n_params['assistant']:,}. Student: "
        f"{n_params['student']:,} (1/{n_params['teacher'] / n_params['student']:.1f} of the teacher). Batch 64, AdamW "
        f"lr 2e-3 with linear decay, T = 4, alpha = {ALPHA} unless named. Hint: `{HINT}` ({hint_epochs:g} epoch "
        "before KD, at both chain stages). KD students use the teacher-logit cache.",
        "",
        f"Student budget: **{budget} epochs**, the later of the epochs where the {curve_epochs}-epoch validation "
        "curves of a scratch and a KD student (seed 0) flatten (3-epoch moving average within 0.5 points of its "
        "best):",
        "",
        "| epoch | " + " | ".join(str(i + 1) for i in range(curve_epochs)) + " |",
        "|---|" + "---|" * curve_epochs,
    ]
    for name, curve in budget_curves.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in curve) + " |")
    lines += [
        "",
        f"Every variant below: {budget} epochs (plus the hint epoch where named), seeds {seeds}.",
        "",
        "| model | test accuracy (mean ± std) | runs | train s / run |",
        "|---|---|---|---|",
    ]
    for k, v in summary.items():
        runs = ", ".join(f"{x:.4f}" for x in v["runs"])
        lines.append(f"| {k} | {v['mean']:.4f} ± {v['std']:.4f} | {runs} | {v['seconds_mean']:.1f} |")
    lines += [
        "",
        f"Assistants (seed 0): TA by KD {assistant_acc['ta_kd']:.4f}, TA by hint + KD {assistant_acc['ta_hint']:.4f}.",
        "",
        "## Step cost (ms per optimizer step, batch 64, median of "
        f"{costs['repeats']} x {costs['steps']} steps, Trainer train_runtime)",
        "",
        "| student step | teacher forward | KD step | KD step, cached logits | KD / (student + teacher fwd) | "
        "cached KD / student | cache build (s) |",
        "|---|---|---|---|---|---|---|",
        f"| {costs['student_step_ms']:.1f} | {costs['teacher_forward_ms']:.1f} | {costs['kd_step_ms']:.1f} | "
        f"{costs['kd_cached_step_ms']:.1f} | {costs['ratio_kd']:.2f}x | {costs['ratio_kd_cached_vs_student']:.2f}x | "
        f"{costs['cache_build_s']:.1f} |",
        "",
        "![accuracy and learning curves](accuracy.png) ![step cost](step_cost.png)",
        "",
    ]
    (cli.out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
