"""Does an unlabelled transfer set make distillation pay at the demo's scale? Writes transfer.md / transfer.json here.

    python benchmarks/distillation/transfer.py              # 3 seeds, about 12 minutes on one CPU core
    python benchmarks/distillation/transfer.py --quick      # smoke run

The demo's setting (``hfnet.demo.distillation``): the teacher is the zoo's ``fashion_resnet`` (81,706 parameters,
trained here exactly as ``hfnet demo`` trains it: 4 epochs on 1000 labelled Fashion-MNIST images, seed 1 init), the
student the demo's 4x smaller ResNet, both seeing the same 1000 labelled images (100 per class, seed 0). Per seed
(student initialisation, data order and which unlabelled images): scratch (cross-entropy, 8 epochs), KD on the same
1000, KD on the 1000 plus ``--unlabeled`` unlabelled training images (never a labelled or a test image), and the
control that separates "more images" from "soft targets": a scratch student trained on the 1000 labelled images plus
the same unlabelled images labelled with the teacher's arg-max (self-training, hard pseudo-labels). The transfer and
self-training runs take the same 8 epochs over their larger sets, so 3x the steps; two more rows separate steps from
data: scratch for as many steps (24 epochs over the 1000), and KD + transfer for the scratch run's steps. Nothing
was tuned: the KD settings are the demo's (T = 4, alpha = 0.3), the transfer-set size was fixed by the demo's time
budget before any run. Scored on 5000 test images (500 per class).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

torch.set_num_threads(1)  # shared 2-core machine

HERE = Path(__file__).resolve().parent
ROWS = {
    "scratch": "scratch, 1000 labelled, {e} epochs ({short} steps)",
    "scratch_long": "scratch, 1000 labelled, {e3} epochs ({long} steps, about the transfer runs' {steps})",
    "kd": "KD, the same 1000, {e} epochs ({short} steps)",
    "kd_long": "KD, the same 1000, {e3} epochs ({long} steps)",
    "kd_transfer": "KD, 1000 labelled + {n} unlabelled, {e} epochs ({steps} steps)",
    "kd_transfer_short": "KD, 1000 labelled + {n} unlabelled, {short} steps (the scratch run's steps)",
    "self_training": "scratch, 1000 labelled + {n} teacher arg-max pseudo-labels, {e} epochs ({steps} steps)",
}


def _teacher(names, train, test, out: Path, per_class: int):
    """The demo zoo's fashion_resnet, trained as ``hfnet.demo.prepare_zoo`` trains it (``per_class`` 100: on the
    students' 1000 labelled images), or the same on ``per_class`` labelled images per class
    (:func:`hfnet.demo.distillation.strong_teacher_data`: a teacher trained on more labels than the student has)."""
    from hfnet.demo.distillation import fashion_resnet_teacher, strong_teacher_data

    labelled = train if per_class == 100 else strong_teacher_data(per_class)
    return fashion_resnet_teacher(names, labelled, out / "teacher", seed=0)


def _pseudo_labelled(teacher, images, features):
    """``images`` with the teacher's arg-max as ``label`` (self-training's hard pseudo-labels)."""
    import datasets

    from hfnet.evaluation import predict

    probe = images.add_column("label", [0] * len(images)).cast(features)
    logits, _ = predict(teacher, probe, progress=False)
    labels = logits.argmax(-1).tolist()
    return datasets.Dataset.from_dict({"image": images["image"], "label": labels}, features=features)


def _train(key, teacher, names, train, test, transfer, seed, epochs, short_steps, work):
    """One row's student for one seed (the trained model, or the distillation stage result)."""
    import datasets

    from hfnet.demo.distillation import distill_student, scratch_student

    kd = dict(seed=seed, epochs=epochs)
    if key == "scratch":
        return scratch_student(names, 28, train, out=work / "s", **kd)
    if key == "scratch_long":
        return scratch_student(names, 28, train, seed=seed, epochs=3 * epochs, out=work / "sl")
    if key == "kd":
        return distill_student(teacher, names, 28, train, test, out=work / "k", **kd)
    if key == "kd_long":
        return distill_student(teacher, names, 28, train, test, seed=seed, epochs=3 * epochs, out=work / "kl")
    if key == "kd_transfer":
        return distill_student(teacher, names, 28, train, test, out=work / "kt", transfer=transfer, **kd)
    if key == "kd_transfer_short":
        return distill_student(
            teacher, names, 28, train, test, max_steps=short_steps, out=work / "kts", transfer=transfer, **kd
        )
    if key == "self_training":
        pseudo = _pseudo_labelled(teacher, transfer.images, train.features)
        return scratch_student(names, 28, datasets.concatenate_datasets([train, pseudo]), out=work / "st", **kd)
    raise KeyError(key)


def run(
    seeds: list[int], unlabeled: int, test_per_class: int, quick: bool, teacher_per_class: int, epochs: float
) -> dict:
    from hfnet.data import class_names, load_image_dataset
    from hfnet.distillation.chain import StageResult
    from hfnet.distillation.data import load_transfer_set
    from hfnet.evaluation import evaluate_classifier

    data = load_image_dataset("fashion_mnist", samples_per_class=100, test_samples_per_class=test_per_class, seed=0)
    train, test = data["train"], data["test"]
    names = class_names(data)
    epochs = 1.0 if quick else epochs
    work = Path(tempfile.mkdtemp(prefix="hfnet-transfer-"))
    t0 = time.perf_counter()
    teacher = _teacher(names, train, test, work, teacher_per_class)
    teacher_acc = evaluate_classifier(teacher, test, progress=False)["accuracy"]
    per_seed: dict[str, list[float]] = {k: [] for k in ROWS}
    seconds: dict[str, list[float]] = {k: [] for k in ROWS}
    steps_long = 0
    for seed in seeds:
        transfer = load_transfer_set(
            "fashion_mnist", "train", samples=unlabeled, seed=seed, exclude={"train": train, "eval": test}
        )
        n_total = len(train) + len(transfer.images)
        steps_long = -(-n_total // 64) * int(epochs)
        short_steps = -(-len(train) // 64) * int(epochs)
        for key in ROWS:
            t1 = time.perf_counter()
            out = _train(key, teacher, names, train, test, transfer, seed, epochs, short_steps, work)
            model = out.model if isinstance(out, StageResult) else out  # a distillation stage or a classifier
            acc = evaluate_classifier(model, test, progress=False)["accuracy"]
            per_seed[key].append(acc)
            seconds[key].append(time.perf_counter() - t1)
            print(f"seed {seed} {key}: {acc:.4f} ({seconds[key][-1]:.0f} s)", flush=True)
    rows = []
    for key, label in ROWS.items():
        accs = per_seed[key]
        rows.append(
            {
                "run": key,
                "what": label.format(
                    n=unlabeled,
                    steps=steps_long,
                    e=f"{epochs:g}",
                    e3=f"{3 * epochs:g}",
                    short=short_steps,
                    long=-(-len(train) // 64) * int(3 * epochs),
                ),
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "per_seed": accs,
                "seconds": statistics.mean(seconds[key]),
            }
        )
    return {
        "teacher_per_class": teacher_per_class,
        "epochs": epochs,
        "teacher_accuracy": teacher_acc,
        "test_images": len(test),
        "labelled": len(train),
        "unlabeled": unlabeled,
        "seeds": seeds,
        "rows": rows,
        "seconds": time.perf_counter() - t0,
    }


def _stem(teacher_per_class: int) -> str:
    return "transfer" if teacher_per_class == 100 else f"transfer_teacher{teacher_per_class}"


def write(result: dict, command: str, threads: int) -> None:
    stem = _stem(result["teacher_per_class"])
    (HERE / f"{stem}.json").write_text(json.dumps(result, indent=2))
    by = {r["run"]: r for r in result["rows"]}
    if result["teacher_per_class"] == 100:
        teacher = "the demo zoo's fashion_resnet (trained as `hfnet demo` trains it, on the students' 1000 images)"
    else:
        teacher = (
            f"the zoo's fashion_resnet architecture trained the same way on {result['teacher_per_class']} labelled "
            "images per class (`hfnet.demo.distillation.strong_teacher_data`: a teacher trained on more labels than "
            "the student has, as a published model is)"
        )
    lines = [
        "# Distillation with an unlabelled transfer set, at the demo's scale",
        "",
        f"`{command}` ({result['seconds'] / 60:.0f} min, {threads} CPU thread(s)). Teacher: {teacher}, test accuracy "
        f"{result['teacher_accuracy']:.4f}. "
        f"{result['labelled']} labelled training images (100 per class), {result['unlabeled']} unlabelled "
        f"Fashion-MNIST training images per seed (labels discarded, none a labelled or a test image), "
        f"{result['test_images']} test images (one standard error about "
        f"{100 * (0.75 * 0.25 / result['test_images']) ** 0.5:.1f} points). Seeds {result['seeds']}: student "
        "initialisation, data order and which unlabelled images. Mean +- standard deviation over the seeds; "
        "nothing tuned (the demo's T = 4, alpha = 0.3).",
        "",
        "| run | test accuracy | per seed | seconds |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        seeds = ", ".join(f"{a:.4f}" for a in r["per_seed"])
        lines.append(f"| {r['what']} | {r['mean']:.4f} +- {r['std']:.4f} | {seeds} | {r['seconds']:.0f} |")
    gain = by["kd_transfer"]["mean"] - by["scratch"]["mean"]
    spread = max(by["kd_transfer"]["std"], by["scratch"]["std"])
    vs_self = by["kd_transfer"]["mean"] - by["self_training"]["mean"]
    vs_long = by["kd_transfer"]["mean"] - by["scratch_long"]["mean"]
    lines += [
        "",
        f"KD + transfer set vs scratch: {100 * gain:+.1f} points (largest seed std {100 * spread:.1f}); vs KD on the "
        f"same 1000: {100 * (by['kd_transfer']['mean'] - by['kd']['mean']):+.1f}; vs scratch for as many steps: "
        f"{100 * vs_long:+.1f}; vs KD on the same 1000 for as many steps: "
        f"{100 * (by['kd_transfer']['mean'] - by['kd_long']['mean']):+.1f}; vs self-training on the same images "
        f"(hard pseudo-labels): {100 * vs_self:+.1f}.",
        "",
    ]
    (HERE / f"{stem}.md").write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--unlabeled", type=int, default=2000, help="unlabelled images (the demo's UNLABELED)")
    p.add_argument("--test-per-class", type=int, default=500)
    p.add_argument(
        "--teacher-per-class", type=int, default=100, help="teacher's labelled images per class (100: the demo zoo's)"
    )
    p.add_argument("--epochs", type=float, default=8.0, help="epochs over the transfer runs' sets (scratch: 3x)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.quick:
        a.seeds, a.unlabeled, a.test_per_class = [0, 1], 200, 20
    result = run(a.seeds, a.unlabeled, a.test_per_class, a.quick, a.teacher_per_class, a.epochs)
    command = "python benchmarks/distillation/transfer.py" + " ".join(
        [""]
        + ([f"--teacher-per-class {a.teacher_per_class}"] if a.teacher_per_class != 100 else [])
        + ([f"--epochs {a.epochs:g}"] if a.epochs != 8 else [])
        + (["--quick"] if a.quick else [])
    )
    if a.quick:
        print(json.dumps(result["rows"], indent=1))
        return
    write(result, command, a.threads)
    print((HERE / f"{_stem(a.teacher_per_class)}.md").read_text())


if __name__ == "__main__":
    main()
