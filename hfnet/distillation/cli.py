"""``hfnet distill``: teacher -> [assistants] -> student with KD, optional hints and merit weights."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hfnet.cli import add_dataset_arguments, add_training_arguments

    parser.add_argument("--teacher", required=True, help="trained teacher: Hub id or local Hub-format folder")
    parser.add_argument(
        "--student",
        required=True,
        help="student: a checkpoint, zoo:tiny_vit[:key=value,...], zoo:tiny_resnet[:...] or timm:NAME[:...]",
    )
    parser.add_argument(
        "--assistant",
        action="append",
        default=[],
        metavar="A",
        help="teacher assistant(s) of intermediate size, same forms as --student; repeat, largest first",
    )
    add_dataset_arguments(parser)
    parser.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="S_LAYER:T_LAYER",
        help="FitNets hint stage: module names in the student and in the model it learns from. One --hint applies "
        "to the last stage; give one per stage (or 'none') to set each stage",
    )
    parser.add_argument(
        "--hint-steps", type=int, default=-1, help="optimizer steps of each hint stage (default: 1 epoch)"
    )
    parser.add_argument(
        "--merit", type=float, default=0.0, metavar="DELTA", help="merit-based alpha shift (0 = off; try 0.1)"
    )
    parser.add_argument("--temperature", type=float, default=4.0, help="KD temperature T > 0 (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.9, help="soft-loss weight in [0, 1] (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="(default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=None, help="input size of zoo:/timm: students")
    parser.add_argument(
        "--cache-teacher-logits", action="store_true", help="run the teacher once over the (unaugmented) train set"
    )
    parser.add_argument("--augment", action="store_true", help="random resized crops on the training set")
    parser.add_argument(
        "--replace-student-head", action="store_true", help="give a checkpoint student a fresh head for the classes"
    )
    parser.add_argument("--output", required=True, help="folder for the distilled checkpoints (one per stage)")
    add_training_arguments(parser, epochs=3.0)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hfnet.cli import format_table, load_dataset_from_args
    from hfnet.data import class_names
    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig, parse_hint
    from hfnet.distillation.models import load_model_spec
    from hfnet.errors import HfnetError
    from hfnet.evaluation import evaluate_classifier
    from hfnet.hub import load_classifier

    dataset = load_dataset_from_args(args)
    names = class_names(dataset)
    teacher = load_classifier(args.teacher)
    if teacher.num_classes != len(names) or teacher.class_names not in (None, names):
        raise HfnetError(
            f"the teacher {args.teacher} predicts {teacher.num_classes} classes, the dataset {args.dataset} has "
            f"{len(names)}; distill on the data the teacher was trained for"
        )
    if teacher.class_names is None:
        teacher.class_names = names
    specs = [*args.assistant, args.student]
    models = [teacher]
    for i, spec in enumerate(specs):
        models.append(
            load_model_spec(
                spec, names, seed=args.seed + i, image_size=args.image_size, replace_head=args.replace_student_head
            )
        )
    stages = len(specs)
    hints = [None if h.lower() == "none" else h for h in args.hint]
    for h in hints:
        if h is not None:
            parse_hint(h)
    if len(hints) == 1 and stages > 1:
        hints = [None] * (stages - 1) + hints
    if hints and len(hints) != stages:
        raise HfnetError(f"{len(args.hint)} --hint options for {stages} stages; give one, or one per stage")
    config = DistillationConfig(
        output_dir=str(Path(args.output) / "runs"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=max(64, args.batch_size),
        learning_rate=args.learning_rate,
        seed=args.seed,
        data_seed=args.seed,
        temperature=args.temperature,
        alpha=args.alpha,
        merit_delta=args.merit,
        hint_max_steps=args.hint_steps,
        cache_teacher_logits=args.cache_teacher_logits,
        save_strategy="no",
        report_to=[],
        logging_steps=20,
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    names_out = ["teacher", *[f"assistant_{i}" for i in range(1, stages)], "student"]
    results = distill_chain(
        models,
        dataset["train"],
        config,
        names=names_out,
        eval_dataset=dataset["test"],
        hints=hints or None,
        output_dir=args.output,
        dataset_name=args.dataset,
        train_augment=args.augment,
    )
    teacher_metrics = evaluate_classifier(teacher, dataset["test"], progress=False)
    rows = [
        {
            "model": "teacher",
            "from": args.teacher,
            "parameters": sum(p.numel() for p in teacher.parameters()),
            "accuracy": teacher_metrics["accuracy"],
        }
    ]
    for r, spec in zip(results, specs):
        rows.append(
            {
                "model": r.name,
                "from": spec,
                "parameters": int(r.metrics["parameters"]),
                "accuracy": r.metrics.get("accuracy"),
                "saved": str(r.output_dir),
            }
        )
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "results.json").write_text(json.dumps(rows, indent=2))
    print(format_table(rows))
    return 0
