"""Prune a pretrained ViT for a downstream dataset (AFR / ReFer / SNIP / magnitude / random), fine-tune it with
the mask fixed, evaluate, and save (and push) a Hub checkpoint with the zeros baked in and a model card.

    # users (online): ViT-B/16 ImageNet-1k on CIFAR-10, 90 % sparsity with AFR
    python recipes/prune_vit.py --model_name_or_path google/vit-base-patch16-224 --dataset_name uoft-cs/cifar10 \
        --method afr --sparsity 0.9 --calibration_samples 512 --output_dir outputs/vit-afr-90 \
        --num_train_epochs 3 --per_device_train_batch_size 64 --learning_rate 1e-4 --push_to_hub \
        --hub_model_id you/vit-base-cifar10-afr-90

    # offline, on this machine: a local Hub-format folder and a bundled dataset
    python recipes/prune_vit.py --model_name_or_path hfnet-demo/zoo/fashion_vit --dataset_name digits \
        --method afr --sparsity 0.9 --output_dir outputs/digits-afr-90 --max_steps 100 --learning_rate 2e-3

    # several processes (on a CPU-only machine a real 2-process gloo run needs --multi_gpu ... --use_cpu)
    accelerate launch --multi_gpu --num_processes 2 recipes/prune_vit.py --model_name_or_path ... \
        --dataset_name digits --output_dir outputs/run --max_steps 20 --use_cpu

Every ``PruningConfig`` and ``TrainingArguments`` option is accepted (``--help`` lists them). ``--max_steps 0
--num_train_epochs 0`` scores, masks and saves without fine-tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser, TrainingArguments

from hfnet.data import load_image_dataset
from hfnet.hub import load_classifier, push_to_hub
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.pipeline import run_pruning


@dataclass
class ScriptArguments:
    model_name_or_path: str = field(metadata={"help": "pretrained classifier: Hub id or local Hub-format folder"})
    dataset_name: str = field(metadata={"help": "digits | fashion_mnist | mnist | Hub dataset id | imagefolder path"})
    image_column: str | None = field(default=None, metadata={"help": "image column (detected when omitted)"})
    label_column: str | None = field(default=None, metadata={"help": "label column (detected when omitted)"})
    samples_per_class: int | None = field(default=None, metadata={"help": "subsample the train split per class"})
    test_samples_per_class: int | None = field(default=None, metadata={"help": "subsample the test split per class"})
    save_dir: str | None = field(
        default=None,
        metadata={
            "help": "where the pruned checkpoint goes (default: output_dir, whose contents it replaces; pass another "
            "folder to keep Trainer checkpoints)"
        },
    )
    summary_file: str | None = field(
        default=None, metadata={"help": "write the run summary (world size, mask sha256, accuracy) as JSON here"}
    )


def main() -> None:
    parser = HfArgumentParser((ScriptArguments, PruningConfig, TrainingArguments))
    script, config, training_args = parser.parse_args_into_dataclasses()
    training_args.remove_unused_columns = False  # the dataset transform makes pixel_values/labels on the fly
    push = training_args.push_to_hub
    training_args.push_to_hub = False  # the Trainer must not push its checkpoints; the pruned model is pushed below
    _ = training_args.device  # set up the (distributed) state before scoring

    # Model
    classifier = load_classifier(script.model_name_or_path)

    # Dataset
    data = load_image_dataset(
        script.dataset_name,
        image_column=script.image_column,
        label_column=script.label_column,
        samples_per_class=script.samples_per_class,
        test_samples_per_class=script.test_samples_per_class,
        seed=training_args.seed,
    )

    # Prune + Train (the head is replaced for the dataset's classes, the mask stays fixed while fine-tuning)
    train = training_args.max_steps > 0 or training_args.num_train_epochs > 0
    summary = run_pruning(
        classifier,
        data,
        config,
        training_args if train else None,
        save_dir=script.save_dir or training_args.output_dir,
        dataset_name=script.dataset_name,
    )

    # Save / push (saved by run_pruning on the main process)
    if training_args.process_index == 0:
        if script.summary_file:
            Path(script.summary_file).parent.mkdir(parents=True, exist_ok=True)
            Path(script.summary_file).write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary))
        if push:
            folder = summary["output_dir"]
            repo_id = training_args.hub_model_id or Path(folder).name
            print(f"pushed to {push_to_hub(folder, repo_id, token=training_args.hub_token)}")


if __name__ == "__main__":
    main()
