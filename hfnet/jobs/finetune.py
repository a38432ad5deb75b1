r"""Fine-tune a pretrained classifier for a dataset: a new head for the dataset's classes, every weight trained with
the Trainer, evaluated on the test split, saved with its card and image processor (and pushed).

    hfnet finetune google/vit-base-patch16-224 --dataset uoft-cs/cifar10 --output-dir vit-cifar10 \
        --epochs 3 --learning-rate 5e-5
    hfnet finetune hfnet-demo/zoo/fashion_vit --dataset digits --max-steps 100 --output-dir digits-vit

The step between ``hfnet rank`` (which model to start from) and ``hfnet compress`` (make it smaller).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.jobs import JobResult
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, with_defaults

HELP = "fine-tune a pretrained classifier for a dataset (new head, all weights, Trainer)"


@dataclass
class FinetuneArguments:
    """Model: the pretrained classifier to fine-tune."""

    model: str = field(
        metadata={"help": "pretrained classifier: Hub id or local Hub-format folder", "positional": True}
    )
    json: str | None = field(default=None, metadata={"help": "Also write the run summary as JSON here."})


FinetuneTraining = with_defaults(TrainingOptions, "FinetuneTraining", learning_rate=1e-4, epochs=3.0)
ARGUMENTS = (FinetuneArguments, DatasetArguments, FinetuneTraining, OutputArguments)


def finetune_card(classifier, source: str, dataset_name: str, steps: int, replaced: bool, command, settings):
    """The card of a fine-tuned classifier (a function of the measured metrics, for :func:`hfnet.finish.finish`)."""
    from hfnet.cards import ModelCardInfo, display_name

    def card(metrics):
        return ModelCardInfo(
            title=f"{type(classifier.model).__name__} fine-tuned on {dataset_name}",
            summary=f"{display_name(source)} fine-tuned on `{dataset_name}` for {steps} steps, every weight trained"
            f"{' with a new head for its classes' if replaced else ''}. Accuracy measured on the test split.",
            metrics={k: v for k, v in metrics.items() if k != "num_samples"},
            tags=["fine-tuned", "image-classification"],
            base_model=classifier.hub_id,
            base_model_relation="finetune",
            datasets=[dataset_name],
            eval_dataset=dataset_name,
            eval_split="test",
            parents=[("fine-tuned from", source)],
            command=command,
            config=settings,
            settings={"new head": replaced, "classes": classifier.num_classes, "training steps": steps},
            settings_title="Fine-tuning",
        )

    return card


def run(
    script: FinetuneArguments, data_args: DatasetArguments, training: TrainingOptions, output: OutputArguments
) -> JobResult:
    import tempfile

    import torch
    from accelerate import PartialState

    from hfnet._table import format_table
    from hfnet.classifier import load_classifier
    from hfnet.data import class_names
    from hfnet.finish import SaveOptions, finish
    from hfnet.jobs import current_command
    from hfnet.jobs._common import result_lines
    from hfnet.options import config_dict
    from hfnet.pruning.pipeline import fit_head
    from hfnet.training import train_classifier

    # Save (checked before anything is loaded)
    save = SaveOptions(output.output_dir, **output.save_kwargs())
    save.check()

    # Model + Dataset
    classifier = load_classifier(script.model)
    data = data_args.load(seed=training.seed)
    torch.manual_seed(training.seed)  # the new head is the same on every process
    replaced = fit_head(classifier, class_names(data))
    classifier.requires_grad_(True)

    # Train
    with tempfile.TemporaryDirectory(prefix="hfnet-finetune-") as work:
        args = training.to_training_arguments(work, disable_tqdm=True)
        trainer = train_classifier(classifier, data["train"], output_dir=work, args=args)
    steps = int(trainer.state.global_step)

    # Save / push
    settings = config_dict(script, data_args, training, output)
    card = finetune_card(classifier, script.model, data_args.dataset, steps, replaced, current_command(), settings)
    done = finish(classifier, save, card, eval_dataset=data["test"], log_history=list(trainer.state.log_history))
    summary = {"world_size": PartialState().num_processes, "train_steps": steps, "head_replaced": replaced}
    summary.update(done.to_dict())
    if not PartialState().is_main_process:
        return JobResult("", summary, main_process=False)
    keys = ("accuracy", "loss", "train_steps", "head_replaced")
    lines = [format_table([{k: summary[k] for k in keys if k in summary}])]
    lines += result_lines(summary, output.output_dir, script.json)
    return JobResult("\n".join(lines), summary)
