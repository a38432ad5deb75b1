"""Distill a teacher into a student (optionally through teacher assistants, with hints and merit weights).

    python recipes/distill.py --teacher path/to/teacher --student zoo:tiny_vit --dataset fashion_mnist \
        --output_dir outputs/distill --max_steps 200 --temperature 4 --alpha 0.9

    accelerate launch --multi_gpu --num_processes 2 --use_cpu recipes/distill.py --teacher path/to/teacher \
        --student zoo:tiny_vit --dataset digits --output_dir outputs/distill --max_steps 20 \
        --world_size_file outputs/distill/world_size.txt

Every ``DistillationConfig`` / ``TrainingArguments`` option is accepted (``--help`` lists them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from hfnet.data import class_names, load_image_dataset
from hfnet.distillation.chain import distill_chain
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.models import load_model_spec
from hfnet.hub import load_classifier


@dataclass
class ScriptArguments:
    teacher: str = field(metadata={"help": "trained teacher: Hub id or local Hub-format folder"})
    student: str = field(metadata={"help": "checkpoint, zoo:tiny_vit[:k=v,...], zoo:tiny_resnet[:...] or timm:NAME"})
    dataset: str = field(metadata={"help": "digits | fashion_mnist | mnist | Hub dataset id | imagefolder path"})
    assistants: list[str] = field(default_factory=list, metadata={"help": "teacher assistants, largest first"})
    image_size: int | None = field(default=None, metadata={"help": "input size of zoo:/timm: students"})
    samples_per_class: int | None = field(default=None, metadata={"help": "subsample the train split per class"})
    test_samples_per_class: int | None = field(default=None, metadata={"help": "subsample the test split"})
    save_dir: str | None = field(
        default=None, metadata={"help": "where the stage checkpoints go (default output_dir)"}
    )
    world_size_file: str | None = field(default=None, metadata={"help": "write the number of processes here"})


def main() -> None:
    parser = HfArgumentParser((ScriptArguments, DistillationConfig))
    script, config = parser.parse_args_into_dataclasses()

    # Dataset
    data = load_image_dataset(
        script.dataset,
        samples_per_class=script.samples_per_class,
        test_samples_per_class=script.test_samples_per_class,
        seed=config.seed,
    )
    names = class_names(data)

    # Model
    teacher = load_classifier(script.teacher)
    specs = [*script.assistants, script.student]
    models = [teacher] + [
        load_model_spec(s, names, seed=config.seed + i, image_size=script.image_size) for i, s in enumerate(specs)
    ]

    # Distill
    results = distill_chain(
        models,
        data["train"],
        config,
        eval_dataset=data["test"],
        output_dir=script.save_dir or config.output_dir,
        dataset_name=script.dataset,
    )

    # Save / push (the checkpoints are saved by distill_chain on the main process)
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        summary = {
            "world_size": state.num_processes,
            "process_index": state.process_index,
            "stages": [{"name": r.name, "teacher": r.teacher_name, **r.metrics} for r in results],
        }
        if script.world_size_file:
            Path(script.world_size_file).parent.mkdir(parents=True, exist_ok=True)
            Path(script.world_size_file).write_text(json.dumps(summary))
        print(json.dumps(summary))
        if config.push_to_hub and config.hub_model_id:
            from hfnet.hub import push_to_hub

            push_to_hub(results[-1].output_dir, config.hub_model_id)


if __name__ == "__main__":
    main()
