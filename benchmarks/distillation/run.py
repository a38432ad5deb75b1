"""Distillation benchmark on Fashion-MNIST at CPU scale: teacher, scratch student, KD, TA chain, hint + TA, merit.

    python benchmarks/distillation/run.py            # full run, writes results.md / results.json / PNGs here
    python benchmarks/distillation/run.py --quick    # smoke run (minutes -> seconds)

Models are transformers ResNets from :func:`hfnet.zoo.tiny_resnet` (BatchNorm, residuals):
teacher ~312k parameters, teacher assistant ~80k, student ~21k (1/15 of the teacher). The teacher is trained once
(seed 0); assistants are distilled once from it; every student variant is trained with 3 seeds.
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
STUDENT = dict(embedding_size=8, hidden_sizes=(8, 16, 32), depths=(1, 1, 1))
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
    from hfnet.data import build_transform

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
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data), 512):
            logits = model.logits(data.pixels[i : i + 512])
            correct += int((logits.argmax(1) == data.labels[i : i + 512]).sum())
    return correct / len(data)


def _train_scratch(model, train: TensorImages, args) -> float:
    from transformers import Trainer, set_seed

    from hfnet.data import collate_fn

    set_seed(args.seed)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collate_fn)
    out = trainer.train()
    model.eval()
    return out.metrics["train_runtime"]


def _distill(student, teacher, train: TensorImages, args) -> float:
    from transformers import set_seed

    from hfnet.distillation.chain import run_hint_stage
    from hfnet.distillation.trainer import DistillationTrainer

    set_seed(args.seed)
    teacher.eval().requires_grad_(False)
    t0 = time.perf_counter()
    if args.hint:
        run_hint_stage(student, teacher, train, args, args.hint)
    trainer = DistillationTrainer(student, teacher, args, train_dataset=train)
    trainer.train()
    student.eval()
    return time.perf_counter() - t0


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


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary)
    means = [summary[m]["mean"] for m in methods]
    stds = [summary[m]["std"] for m in methods]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    colors = ["#555555", "#aaaaaa"] + ["#4c72b0"] * (len(methods) - 2)
    ax.bar(methods, means, yerr=stds, capsize=4, color=colors)
    lo = min(m - s for m, s in zip(means, stds))
    ax.set_ylim(max(0.0, lo - 0.03), min(1.0, max(means) + 0.03))
    for i, m in enumerate(means):
        ax.text(i, m + 0.003, f"{m:.3f}", ha="center", fontsize=8)
    ax.set_ylabel("test accuracy (mean ± std, 3 seeds)")
    ax.set_title("Fashion-MNIST, ResNet teacher 312k -> student 21k parameters")
    ax.axhline(means[1], color="#aaaaaa", lw=0.8, ls="--")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_costs(costs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=HERE)
    cli = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import transformers

    transformers.logging.set_verbosity_error()

    from hfnet.data import class_names, load_image_dataset
    from hfnet.zoo import tiny_resnet

    t_start = time.perf_counter()
    per_class, test_per_class = (60, 20) if cli.quick else (600, 300)
    epochs = {"teacher": 1 if cli.quick else 6, "assistant": 1 if cli.quick else 4, "student": 1 if cli.quick else 4}
    hint_epochs = 0.5 if cli.quick else 1.0
    seeds = cli.seeds[:1] if cli.quick else cli.seeds
    work = Path("/tmp/hfnet-bench-distillation")

    # Dataset
    data = load_image_dataset("fashion_mnist", samples_per_class=per_class, test_samples_per_class=test_per_class)
    names = class_names(data)
    pre = tiny_resnet(names, image_size=28, **STUDENT).preprocessing
    train, test = _tensors(data["train"], pre), _tensors(data["test"], pre)

    # Teacher (seed 0), then assistants distilled from it
    teacher = tiny_resnet(names, image_size=28, seed=0, **TEACHER)
    teacher_time = _train_scratch(teacher, train, _args(work / "teacher", 0, epochs["teacher"]))
    results: dict[str, list[float]] = {"teacher": [_accuracy(teacher, test)]}
    ta_kd = tiny_resnet(names, image_size=28, seed=100, **ASSISTANT)
    _distill(ta_kd, teacher, train, _args(work / "ta", 0, epochs["assistant"]))
    ta_hint = tiny_resnet(names, image_size=28, seed=100, **ASSISTANT)
    _distill(
        ta_hint, teacher, train, _args(work / "ta_hint", 0, epochs["assistant"], hint=HINT, hint_epochs=hint_epochs)
    )
    assistant_acc = {"ta_kd": _accuracy(ta_kd, test), "ta_hint": _accuracy(ta_hint, test)}
    n_params = {
        "teacher": sum(p.numel() for p in teacher.parameters()),
        "assistant": sum(p.numel() for p in ta_kd.parameters()),
        "student": sum(p.numel() for p in tiny_resnet(names, image_size=28, **STUDENT).parameters()),
    }

    # Students, 3 seeds each
    variants = {
        "student (scratch)": None,
        "KD (alpha 0.9)": dict(teacher=teacher, alpha=0.9),
        "KD": dict(teacher=teacher),
        "TA chain": dict(teacher=ta_kd),
        "hint + TA": dict(teacher=ta_hint, hint=HINT, hint_epochs=hint_epochs),
        "merit (alpha 0.5 +/- 0.1)": dict(teacher=teacher, merit_delta=0.1),
    }
    times: dict[str, list[float]] = {}
    for name, spec in variants.items():
        results[name] = []
        for seed in seeds:
            student = tiny_resnet(names, image_size=28, seed=1000 + seed, **STUDENT)
            if spec is None:
                seconds = _train_scratch(student, train, _args(work / "scratch", seed, epochs["student"]))
            else:
                kw = {k: v for k, v in spec.items() if k != "teacher"}
                seconds = _distill(student, spec["teacher"], train, _args(work / "kd", seed, epochs["student"], **kw))
            results[name].append(_accuracy(student, test))
            times.setdefault(name, []).append(seconds)
            print(f"{name:20s} seed {seed}: {results[name][-1]:.4f} ({seconds:.1f} s)", flush=True)

    costs = _step_costs(teacher, train, names, work, steps=10 if cli.quick else 60, repeats=1 if cli.quick else 3)
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
            "dataset": f"fashion_mnist, {len(train)} train / {len(test)} test images (28x28)",
            "epochs": epochs,
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
        "step_cost": costs,
        "total_seconds": total,
    }
    cli.out.mkdir(parents=True, exist_ok=True)
    (cli.out / "results.json").write_text(json.dumps(report, indent=2))
    _plot(summary, cli.out / "accuracy.png")
    _plot_costs(costs, cli.out / "step_cost.png")
    lines = [
        "# Distillation benchmark (Fashion-MNIST, CPU)",
        "",
        f"`python benchmarks/distillation/run.py` ({'quick' if cli.quick else 'full'} run, {total / 60:.1f} min on "
        "a shared 2-core CPU, 1 torch thread).",
        "",
        f"Data: {report['setup']['dataset']}. Teacher: tiny ResNet {n_params['teacher']:,} parameters, "
        f"{epochs['teacher']} epochs. Teacher assistant: {n_params['assistant']:,}. Student: "
        f"{n_params['student']:,} ({n_params['student'] / n_params['teacher']:.0%} of the teacher), "
        f"{epochs['student']} epochs, batch 64, AdamW lr 2e-3, T = 4, alpha = {ALPHA} unless named. "
        f"Hint: `{HINT}` ({hint_epochs:g} epoch before KD, at both chain stages).",
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
        "![accuracy](accuracy.png) ![step cost](step_cost.png)",
        "",
    ]
    (cli.out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
